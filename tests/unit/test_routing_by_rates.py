"""Routing by success rate and the platform's marked numbers, over moto with fake partners."""
from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.domain.delivery_rates import Tally
from chalicelib.domain.errors import NoNumbers
from chalicelib.services.activations import catalog, delivery_memory
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from tests.fake_partner import FakePartner
from tests.unit.activation_support import Desk


@pytest.fixture(autouse=True)
def fresh_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read sees the latest counters and marks (a container's caches are minutes long, tests are not)."""
    for name in ("RATES_CACHE_SECONDS", "LISTING_RATES_CACHE_SECONDS", "MARKS_CACHE_SECONDS"):
        monkeypatch.setattr(delivery_memory, name, 0.0)
    monkeypatch.setattr(catalog, "_LISTING_CACHE_SECONDS", 0.0)


def _fail(desk: Desk, user: Account, activation: Activation) -> None:
    desk.past_cancel_window()
    desk.service.cancel(user.account_id, int(activation.activation_id))


def _succeed(desk: Desk, user: Account, activation: Activation) -> None:
    desk.received(user, activation)


def test_catalog__shows_the_share_of_numbers_that_received_a_code(moto_tables: Settings):
    # Given three numbers sold: two received a code, one was canceled without one, one still waits
    desk = Desk(moto_tables)
    user = desk.account(1000)
    first, second, third, _waiting = (desk.order(user) for _ in range(4))
    _succeed(desk, user, first)
    _succeed(desk, user, second)
    _fail(desk, user, third)
    # When the price list is read
    item = next(i for i in desk.service.catalog.items("tg", 0))
    # Then the day and the week show 2 of 3 (the waiting one has no outcome yet)
    assert (item.rates.day, item.rates.week) == (Tally(3, 2), Tally(3, 2))


def test_catalog__a_finished_number_counts_once(moto_tables: Settings):
    # Given a number that received two SMS and was finished
    desk = Desk(moto_tables)
    user = desk.account(1000)
    activation = desk.order(user)
    _succeed(desk, user, activation)
    desk.service.retry(user.account_id, int(activation.activation_id))
    desk.received(user, activation, "Your Telegram code is 54321")
    desk.service.finish(user.account_id, int(activation.activation_id))
    # Then it is one success
    assert desk.service.catalog.items("tg", 0)[0].rates.day == Tally(1, 1)


def test_order__goes_to_the_partner_with_the_better_recent_rate_at_the_quoted_price(moto_tables: Settings):
    # Given a cheap partner that delivered 2 of its last 4 numbers and a dearer one that delivered 4 of 4,
    # both within the price the user is quoted (0.60: the cheap one's 0.40 plus markup)
    cheap, good = FakePartner("cheap", cost_minor=40), FakePartner("good", cost_minor=55)
    desk = Desk(moto_tables, [cheap, good], routing_min_samples=4)
    user = desk.account(10_000)
    for outcome in (_succeed, _fail, _succeed, _fail):
        outcome(desk, user, desk.order(user))
    for _ in range(4):
        activation = desk.order(user)
        assert activation.partner == "good"  # unknown yet: given the benefit of the doubt over a known 50 %
        _succeed(desk, user, activation)
    # When the user orders again
    activation = desk.order(user)
    # Then the partner that delivers gets the order, at the price quoted
    assert (activation.partner, activation.price_cents) == ("good", 60)
    # And when it starts failing, the traffic goes back to the cheap one as its rate falls to the same band
    _fail(desk, user, activation)
    for _ in range(3):
        _fail(desk, user, desk.order(user))
    assert desk.order(user).partner == "cheap"


def test_order__a_partner_without_enough_outcomes_keeps_its_place_by_price(moto_tables: Settings):
    # Given a cheap partner with two failures, below the minimum sample of three
    cheap, good = FakePartner("cheap", cost_minor=40), FakePartner("good", cost_minor=55)
    desk = Desk(moto_tables, [cheap, good], routing_min_samples=3)
    user = desk.account(10_000)
    for _ in range(2):
        _fail(desk, user, desk.order(user))
    # Then it is still asked first
    assert desk.order(user).partner == "cheap"


def test_order__a_pair_whose_rate_collapsed_is_not_sold(moto_tables: Settings):
    # Given the one partner for Telegram in Russia failed its last three numbers (floor 20 %, minimum 3)
    desk = Desk(moto_tables, routing_min_samples=3)
    user = desk.account(10_000)
    for _ in range(3):
        _fail(desk, user, desk.order(user))
    balance = desk.balance(user.account_id)
    # When the user orders it again
    with pytest.raises(NoNumbers):
        desk.order(user)
    # Then nothing was charged, the price list no longer offers it, and WhatsApp is still on sale
    assert desk.balance(user.account_id) == balance
    assert desk.service.catalog.items("tg", 0) == []
    assert desk.order(user, "wa").status == "WAITING"


def test_order__the_collapsed_pair_is_offered_again_once_its_failures_leave_the_window(moto_tables: Settings):
    # Given a pair that collapsed
    desk = Desk(moto_tables, routing_min_samples=3)
    user = desk.account(10_000)
    for _ in range(3):
        _fail(desk, user, desk.order(user))
    # When the recent window (an hour) has passed
    desk.clock.advance(3600 + 300)
    # Then it is sold again (so a partner that recovered is found out), its day still showing the failures
    assert desk.order(user).status == "WAITING"
    assert desk.service.catalog.items("tg", 0)[0].rates.day == Tally(3, 0)


def test_order__a_number_one_user_banned_is_never_sold_to_another_for_that_service(moto_tables: Settings):
    # Given a partner that hands numbers out again, and a user who reported one bad for Telegram
    desk = Desk(moto_tables)
    desk.partner.phone_pool = ["79001111111", "79002222222"]
    reporter, other = desk.account(1000), desk.account(1000)
    first = desk.order(reporter)
    desk.past_cancel_window()
    desk.service.ban(reporter.account_id, int(first.activation_id))
    # When another user orders Telegram, and then WhatsApp
    telegram = desk.order(other)
    whatsapp = desk.order(other, "wa")
    # Then the partner was told to exclude it for Telegram only
    assert telegram.phone == "79002222222"
    assert "79001111111" in desk.partner.asked[-2]["exclude_phones"]
    assert whatsapp.phone == "79001111111"


def _marked_number_and_a_partner_ignoring_exclusions(desk: Desk) -> Account:
    """79001111111 reported bad by one user; the partner no longer honours exclusions. Returns another user."""
    desk.partner.phone_pool = ["79001111111"]
    reporter, other = desk.account(1000), desk.account(1000)
    first = desk.order(reporter)
    desk.past_cancel_window()
    desk.service.ban(reporter.account_id, int(first.activation_id))
    desk.partner.honours_exclusions = False
    return other


def test_order__a_marked_number_the_partner_offers_anyway_is_given_back_at_no_cost(moto_tables: Settings):
    # Given a marked number and a partner that ignores exclusions, handing it out first
    desk = Desk(moto_tables)
    other = _marked_number_and_a_partner_ignoring_exclusions(desk)
    desk.partner.phone_pool = ["79001111111", "79003333333"]
    answers = iter(["79001111111", "79003333333"])
    desk.partner._phone = lambda partner_id, exclude: next(answers)  # type: ignore[method-assign]
    # When another user orders
    activation = desk.order(other)
    # Then the marked number was cancelled at the partner, the next one sold, and the user charged once
    assert activation.phone == "79003333333"
    assert desk.partner.calls["get_number"] == 3 and desk.partner.calls["cancel"] == 2
    assert desk.balance(other.account_id) == 940


def test_order__a_partner_that_keeps_offering_marked_numbers_fails_over_and_refunds(moto_tables: Settings):
    # Given a marked number that the only partner offers whatever it is told
    desk = Desk(moto_tables)
    other = _marked_number_and_a_partner_ignoring_exclusions(desk)
    # When another user orders
    activation = desk.order(other)
    # Then the order failed after two answers, both given back, and the user has all their money
    assert activation.status == "FAILED"
    assert desk.partner.calls["cancel"] == 1 + 2
    assert desk.balance(other.account_id) == 1000


def test_expire__three_timeouts_without_an_sms_mark_a_number(moto_tables: Settings):
    # Given a partner that hands the same number out again, and it times out without an SMS twice
    desk = Desk(moto_tables)
    desk.partner.phone_pool = ["79001111111", "79002222222"]
    user = desk.account(10_000)
    for _ in range(2):
        desk.order(user)
        desk.clock.advance(desk.settings.activation_lifetime_seconds + 1)
        desk.service.expire_overdue_activations()
    # Then it is still sold; after a third timeout it is not
    assert desk.order(user).phone == "79001111111"
    desk.clock.advance(desk.settings.activation_lifetime_seconds + 1)
    desk.service.expire_overdue_activations()
    assert desk.order(user).phone == "79002222222"
