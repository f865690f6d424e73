"""Selling what partners sell: a service our curated list lacks is listed and sold under the partner's name."""
from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.domain.errors import InvalidInput
from chalicelib.services.activations import catalog
from tests.fake_partner import FakePartner
from tests.unit.activation_support import Desk


@pytest.fixture(autouse=True)
def fresh_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "_LISTING_CACHE_SECONDS", 0.0)


def test_service_names__curated_names_win_and_partner_codes_come_after(moto_tables: Settings):
    # Given a partner that names Telegram its own way and sells a service our list lacks
    partner = FakePartner(services=("tg", "zv"), names={"tg": "TG Messenger", "zv": "Zava\u202e Rides"})
    desk = Desk(moto_tables, [partner])
    # When the services are listed
    names = desk.service.catalog.service_names()
    # Then Telegram keeps our name, the new service comes after ours under the partner's cleaned name
    assert names["tg"] == "Telegram"
    assert list(names)[-1] == "zv" and names["zv"] == "Zava Rides"
    assert {i.service for i in desk.service.catalog.items(country=0)} == {"tg", "zv"}


def test_order__a_partner_only_service_is_sold_like_any_other(moto_tables: Settings):
    # Given a partner selling a service our list lacks, without a name for it
    partner = FakePartner(services=("zv",))
    desk = Desk(moto_tables, [partner])
    user = desk.account(1000)
    # When a user orders it
    activation = desk.order(user, "zv", 0)
    # Then it is bought and charged like any number, and listed under its code
    assert (activation.status, activation.price_cents) == ("WAITING", 60)
    assert desk.service.catalog.service_names()["zv"] == "zv"


def test_order__a_code_no_partner_sells_is_bad_service_before_any_debit(moto_tables: Settings):
    desk = Desk(moto_tables)
    user = desk.account(1000)
    for code in ("zz", "Z V", "tg\u0663"):
        with pytest.raises(InvalidInput) as refused:
            desk.order(user, code, 0)
        assert refused.value.code == "BAD_SERVICE"
    assert desk.balance(user.account_id) == 1000


def test_refresh__offers_under_codes_that_cannot_be_ours_are_dropped(moto_tables: Settings):
    # Given a partner whose list holds a code with spaces and capitals-only garbage
    partner = FakePartner(services=("tg", "bad code!", "<b>"))
    desk = Desk(moto_tables, [partner])
    # Then only the valid code was kept
    assert {i.service for i in desk.service.catalog.items()} == {"tg"}
