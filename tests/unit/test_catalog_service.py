"""The price list: partners' offers cached in our currency, our markup or the admin's price, quotes for orders."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from chalicelib.config import PartnerSettings, Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import InvalidInput
from chalicelib.providers.base import PartnerUnavailable
from chalicelib.services.activations.catalog import Catalog
from chalicelib.services.activations.delivery_memory import DeliveryMemory
from chalicelib.services.activations.price_settings import (
    MARKUP_KEY,
    PRICE_OVERRIDES_KEY,
    clear_price,
    set_markup,
    set_price,
)
from chalicelib.services.platform import runtime_settings
from chalicelib.store.runtime import RuntimeSetting
from tests.clock import FixedClock
from tests.fake_partner import FakePartner
from tests.unit.dynamo_calls import count_dynamodb_calls


@pytest.fixture
def prices(moto_tables: Settings) -> Iterator[Settings]:
    """The moto_tables with the operator's price settings reset after the test."""
    yield replace(moto_tables, markup_percent=Decimal(50))
    for key in (MARKUP_KEY, PRICE_OVERRIDES_KEY):
        RuntimeSetting(key).delete()
    runtime_settings.clear_cache()


def catalog(settings: Settings, *partners: FakePartner, rates: dict[str, str] | None = None) -> Catalog:
    rates = rates or {}
    configured = tuple(PartnerSettings(p.name, "sms-activate", "http://unused", "k",
                                       rate_to_base=Decimal(rates.get(p.name, "1"))) for p in partners)
    settings = replace(settings, partners=configured)
    built = Catalog(settings, partners, FixedClock(), DeliveryMemory(settings, FixedClock()))
    built.refresh_prices()
    return built


def test_items__cost_plus_markup_rounded_up_with_stock(prices):
    # Given a partner selling Telegram in Russia at 0.33 with 7 numbers
    partner = FakePartner(cost_minor=33, stock=7, services=("tg",), countries=(0,))
    # When the price list is read
    items = catalog(prices, partner).items()
    # Then the price is 0.33 × 1.5 = 0.495, rounded up to 0.50
    assert [(i.service, i.country, i.operator, i.price_cents, i.available, i.operators) for i in items] == [
        ("tg", 0, "any", 50, 7, ())]


def test_refresh_prices__converts_a_partner_currency_at_its_rate(prices):
    # Given a partner quoting 40 minor units of a currency worth 1.1 of ours
    partner = FakePartner(cost_minor=40, currency="EUR", services=("tg",), countries=(0,))
    # When prices are refreshed and quoted
    (quote,) = catalog(prices, partner, rates={partner.name: "1.1"}).quote("tg", 0, None)
    # Then the cost is 44 of our cents and the partner may still be charged 40 of its own
    assert (quote.cost_cents, quote.cost_minor, quote.price_cents) == (44, 40, 66)


def test_refresh_prices__drops_offers_the_partner_no_longer_lists(prices):
    # Given a partner that sold Telegram and WhatsApp
    partner = FakePartner(services=("tg", "wa"), countries=(0,))
    built = catalog(prices, partner)
    # When it stops selling WhatsApp and prices are refreshed
    partner.services = ("tg",)
    built.refresh_prices()
    # Then WhatsApp cannot be quoted
    assert built.quote("wa", 0, None) == []
    assert len(built.quote("tg", 0, None)) == 1


def test_refresh_prices__a_failing_partner_keeps_its_last_prices(prices):
    # Given a partner whose prices were cached
    partner = FakePartner(services=("tg",), countries=(0,))
    built = catalog(prices, partner)
    # When its price list cannot be read
    partner.offers_failure = PartnerUnavailable("down")
    refreshed = built.refresh_prices()
    # Then the refresh says so and the cached offer still sells
    assert refreshed == {}
    assert len(built.quote("tg", 0, None)) == 1


def test_quote__cheapest_in_stock_first_and_only_configured_partners(prices):
    # Given three partners, one out of stock and one whose offers linger from an old configuration
    dear = FakePartner(cost_minor=50, services=("tg",), countries=(0,))
    empty = FakePartner(cost_minor=10, stock=0, services=("tg",), countries=(0,))
    cheap = FakePartner(cost_minor=30, services=("tg",), countries=(0,))
    gone = FakePartner(cost_minor=1, services=("tg",), countries=(0,))
    catalog(prices, gone)
    # When a quote is made with the current partners
    quotes = catalog(prices, dear, empty, cheap).quote("tg", 0, None)
    # Then only partners with stock, cheapest first
    assert [(q.partner, q.price_cents) for q in quotes] == [(cheap.name, 45), (dear.name, 75)]


def test_set_price__overrides_the_markup_until_cleared(prices):
    # Given a 0.60 number
    partner = FakePartner(cost_minor=40, services=("tg",), countries=(0,))
    built = catalog(prices, partner)
    # When the admin fixes Telegram/Russia at 0.99, then clears it
    set_price("tg", 0, 99, SystemClock())
    fixed = built.quote("tg", 0, None)[0].price_cents
    clear_price("tg", 0, SystemClock())
    # Then the price followed
    assert (fixed, built.quote("tg", 0, None)[0].price_cents) == (99, 60)


def test_set_markup__changes_every_price_without_override(prices):
    # Given a 0.40 cost
    partner = FakePartner(cost_minor=40, services=("tg",), countries=(0,))
    built = catalog(prices, partner)
    # When the markup becomes 25%
    set_markup("25", SystemClock())
    # Then the price is 0.50
    assert built.quote("tg", 0, None)[0].price_cents == 50


@pytest.mark.parametrize("call", [
    lambda: set_markup("-1", SystemClock()), lambda: set_markup("abc", SystemClock()),
    lambda: set_price("nope", 0, 10, SystemClock()), lambda: set_price("tg", 99999, 10, SystemClock()),
    lambda: set_price("tg", 0, 0, SystemClock()),
])
def test_admin_prices__bad_values_are_refused(prices, call):
    # Given / When an admin sets a nonsense price or markup / Then it is refused
    with pytest.raises(InvalidInput):
        call()


def test_quote__a_container_reads_the_offers_once_for_many_orders(prices):
    # Given a container that quoted Telegram in Russia once
    partner = FakePartner(services=("tg",), countries=(0,))
    shop = catalog(prices, partner)
    shop.quote("tg", 0, None)
    # When it quotes the same again for more orders
    with count_dynamodb_calls() as calls:
        quotes = [shop.quote("tg", 0, None) for _ in range(3)]
    # Then the offers were not read again
    assert all(quotes) and calls.on("catalog_offers") == []


def test_quote__stock_back_since_the_cache_was_filled_is_sold(prices):
    # Given a container that found nothing in stock a moment ago
    partner = FakePartner(stock=0, services=("tg",), countries=(0,))
    shop = catalog(prices, partner)
    assert shop.quote("tg", 0, None) == []
    # When the price job (another container) loads new stock
    partner.stock = 5
    catalog(prices, partner)
    # Then the next quote sells it instead of refusing from the cache
    assert [q.count for q in shop.quote("tg", 0, None)] == [5]


def test_operators__per_country_from_named_offers_and_partners_lists(prices):
    # Given one partner naming its offers' operator and one listing its country's operators on "any" offers
    named = FakePartner(operator="tele2", services=("tg",), countries=(0, 187))
    listed = FakePartner(operators=("mts", "beeline"), services=("wa",), countries=(0,))
    silent = FakePartner(services=("vk",), countries=(1,))
    built = catalog(prices, named, listed, silent)
    # Then each country lists the union, sorted; a country only silent partners sell has no entry
    assert built.operators() == {0: ["beeline", "mts", "tele2"], 187: ["tele2"]}
    assert built.operators(187) == {187: ["tele2"]}
    assert built.operators(1) == {}
    # And the price list's "any" items carry their partner's list
    assert {(i.service, i.operator, i.operators) for i in built.items(country=0)} == {
        ("tg", "tele2", ()), ("wa", "any", ("beeline", "mts"))}


def test_quote__an_operator_the_pair_never_has_is_wrong_operator_even_out_of_stock(prices):
    # Given a partner selling only MTS numbers in Russia, none in stock right now
    built = catalog(prices, FakePartner(operator="mts", stock=0, services=("tg",), countries=(0,)))
    # Then MTS is "no numbers now" (empty quotes), another operator is WRONG_OPERATOR
    assert built.quote("tg", 0, "mts") == []
    with pytest.raises(InvalidInput) as refused:
        built.quote("tg", 0, "beeline")
    assert refused.value.code == "WRONG_OPERATOR" and refused.value.details == {"field": "operator"}
