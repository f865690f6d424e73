"""Ordering a number over moto with fake partners: one debit, cheapest partner first, failover, refunds, idempotency."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.errors import (
    AccountUnverified,
    InsufficientBalance,
    InvalidInput,
    NoNumbers,
    PriceAboveMax,
)
from chalicelib.providers.base import PartnerNoNumbers, PartnerUnavailable
from chalicelib.services.activations import ordering
from chalicelib.store.accounts import Account
from chalicelib.store.activations import PENDING_KEY, Activation
from tests.fake_partner import FakePartner
from tests.unit.activation_support import Desk
from tests.unit.dynamo_calls import count_dynamodb_calls


def test_order__debits_the_price_once_and_issues_a_number(desk):
    # Given a user with 10.00 and a partner selling at 0.40 (0.60 with our markup)
    user = desk.account(1000)
    # When they order a Telegram number in Russia
    activation = desk.order(user, "tg", 0)
    # Then they have a waiting number and paid 0.60, with the ledger entry naming the activation
    assert (activation.status, activation.price_cents, activation.phone) == ("WAITING", 60, "79000000001")
    assert desk.balance(user.account_id) == 940
    charges = [e for e in desk.ledger(user.account_id) if e.kind == LedgerKind.ACTIVATION_CHARGE.value]
    assert [(e.amount_cents, e.cause_id) for e in charges] == [(-60, str(activation.activation_id))]


def test_order__ids_are_growing_integers_a_javascript_client_holds_exactly(desk):
    # Given a user
    user = desk.account(1000)
    # When they order twice
    first, second = desk.order(user), desk.order(user)
    # Then the ids are positive integers, newer above older, below 2^53 (SMS-Activate clients int() them)
    assert 0 < int(first.activation_id) < int(second.activation_id) < 2**53


def test_order__an_id_another_process_drew_too_is_drawn_again(desk, monkeypatch):
    # Given an id already taken by an order, and a draw that repeats it once
    user = desk.account(1000)
    taken = desk.order(user)
    draws = iter([int(taken.activation_id), int(taken.activation_id) + 7])
    monkeypatch.setattr(ordering, "new_numeric_id", lambda: next(draws))
    # When the user orders again
    second = desk.order(user)
    # Then the order gets the next draw, is charged once, and the first order is untouched
    assert int(second.activation_id) == int(taken.activation_id) + 7
    assert desk.balance(user.account_id) == 1000 - 2 * 60
    assert desk.service.lifecycle.load(int(taken.activation_id)).phone == taken.phone


def test_order__cheapest_partner_is_asked_first(moto_tables):
    # Given two partners, the second one cheaper
    dear, cheap = FakePartner("dear", cost_minor=50), FakePartner("cheap", cost_minor=30)
    desk = Desk(moto_tables, [dear, cheap])
    # When a number is ordered
    activation = desk.order(desk.account(1000))
    # Then the cheaper partner served it, at its price plus markup
    assert (activation.partner, activation.price_cents) == ("cheap", 45)
    assert dear.calls["get_number"] == 0


def test_order__falls_back_to_the_next_partner_on_no_numbers_or_error(moto_tables):
    # Given the cheapest partner out of numbers and the next one down
    first, second, third = FakePartner("a", 30), FakePartner("b", 35), FakePartner("c", 40)
    first.number_failure = PartnerNoNumbers("a: NO_NUMBERS")
    second.number_failure = PartnerUnavailable("b: timeout")
    desk = Desk(moto_tables, [first, second, third])
    user = desk.account(1000)
    # When a number is ordered
    activation = desk.order(user)
    # Then the third partner served it and the user paid the price quoted for the cheapest, once
    assert (activation.status, activation.partner, activation.price_cents) == ("WAITING", "c", 45)
    assert desk.balance(user.account_id) == 955


def test_order__a_fallback_dearer_than_the_price_charged_is_not_asked(moto_tables):
    # Given a cheap partner with no numbers and one whose cost is above the price we would charge
    cheap, dear = FakePartner("cheap", 30), FakePartner("dear", 80)
    cheap.number_failure = PartnerNoNumbers("cheap: NO_NUMBERS")
    desk = Desk(moto_tables, [cheap, dear])
    user = desk.account(1000)
    # When a number is ordered
    activation = desk.order(user)
    # Then we do not sell below cost: the order fails and is refunded
    assert activation.status == "FAILED"
    assert dear.calls["get_number"] == 0
    assert desk.balance(user.account_id) == 1000


def test_order__every_partner_failing_ends_failed_and_refunded_once(desk):
    # Given the only partner timing out
    desk.partner.number_failure = PartnerUnavailable("fake: ReadTimeout")
    user = desk.account(1000)
    # When a number is ordered
    activation = desk.order(user)
    # Then the activation failed, the balance is whole again, and the ledger shows the charge and one refund
    assert activation.status == "FAILED"
    assert desk.balance(user.account_id) == 1000
    assert [e.amount_cents for e in desk.refunds(user.account_id)] == [60]
    assert activation.active_key is None


def test_order__without_enough_balance_writes_nothing(desk):
    # Given 0.50 and a 0.60 number
    user = desk.account(50)
    # When a number is ordered
    with pytest.raises(InsufficientBalance):
        desk.order(user)
    # Then no activation exists, no partner was asked, and the balance is untouched
    assert list(Activation.by_account.query(user.account_id)) == []
    assert desk.partner.calls["get_number"] == 0
    assert desk.balance(user.account_id) == 50


def test_order__max_price_below_the_price_is_refused_with_the_price(desk):
    # Given a 0.60 number
    user = desk.account(1000)
    # When the user will pay at most 0.59
    with pytest.raises(PriceAboveMax) as refused:
        desk.order(user, max_price_cents=59)
    # Then they are told the cheapest price, and nothing was charged
    assert refused.value.details == {"min_price_cents": 60}
    assert desk.balance(user.account_id) == 1000


@pytest.mark.parametrize(("fields", "code"), [
    ({"service": "nope"}, "BAD_SERVICE"),
    ({"country": 99999}, "BAD_COUNTRY"),
    ({"operator": "MTS; drop"}, "WRONG_OPERATOR"),
    ({"max_price_cents": 0}, "INVALID_INPUT"),
])
def test_order__bad_input_is_refused_before_any_debit(desk, fields, code):
    # Given a funded user
    user = desk.account(1000)
    request = {"service": "tg", "country": 0, **fields}
    # When the order names something that does not exist
    with pytest.raises(InvalidInput) as refused:
        desk.order(user, **request)
    # Then it is refused with a code a client can act on, and nothing moved
    assert refused.value.code == code
    assert desk.balance(user.account_id) == 1000


def test_order__nothing_in_stock_is_no_numbers_without_debit(moto_tables):
    # Given a partner whose price list shows no stock
    desk = Desk(moto_tables, [FakePartner(stock=0)])
    user = desk.account(1000)
    # When a number is ordered
    with pytest.raises(NoNumbers):
        desk.order(user)
    # Then nothing was charged
    assert desk.balance(user.account_id) == 1000


@pytest.mark.parametrize("partner", [
    FakePartner(operator="mts", countries=(0,)),                      # offers named by operator (5sim, agents)
    FakePartner(operators=("mts", "beeline"), countries=(0,)),        # "any" offers with the partner's list
], ids=["named-offers", "listed-operators"])
def test_order__an_operator_no_partner_has_is_wrong_operator_without_debit(moto_tables, partner):
    # Given partners that say which operators they have in Russia
    desk = Desk(moto_tables, [partner])
    user = desk.account(1000)
    # When a number of an operator none of them has is ordered
    with pytest.raises(InvalidInput) as refused:
        desk.order(user, operator="tele3")
    # Then it is WRONG_OPERATOR, no partner was asked, and the history holds no charge nor refund
    assert refused.value.code == "WRONG_OPERATOR"
    assert partner.calls["get_number"] == 0
    assert [e.kind for e in desk.ledger(user.account_id)] == [LedgerKind.ADJUSTMENT.value]  # the top-up only
    assert desk.balance(user.account_id) == 1000
    # And an operator it has is sold and asked for by name
    assert desk.order(user, operator="mts").operator == "mts"
    assert partner.asked[-1]["operator"] == "mts"


def test_order__a_partner_that_lists_no_operators_is_asked_for_any_named_one(moto_tables):
    # Given a partner whose protocol has no operator list (a clone without getOperators)
    desk = Desk(moto_tables, [FakePartner(countries=(0,))])
    user = desk.account(1000)
    # When a number of some operator is ordered, the partner decides: it is asked for it, as before
    assert desk.order(user, operator="mts").operator == "mts"


def test_order__unverified_account_is_refused(desk):
    # Given an account that has not verified its email
    user = desk.account(1000, status=AccountStatus.UNVERIFIED)
    # When it orders
    with pytest.raises(AccountUnverified):
        desk.order(user)
    # Then nothing was charged
    assert desk.balance(user.account_id) == 1000


def test_order__same_idempotency_key_returns_the_first_activation(desk):
    # Given an order made with an idempotency key
    user = desk.account(1000)
    first = desk.order(user, idempotency_key="order-1")
    # When the client retries with the same key
    again = desk.order(user, idempotency_key="order-1")
    # Then it gets the same activation and paid once
    assert again.activation_id == first.activation_id
    assert desk.balance(user.account_id) == 940
    assert desk.partner.calls["get_number"] == 1


def test_order__idempotency_key_reused_for_another_order_is_refused(desk):
    # Given a key used for Telegram
    user = desk.account(1000)
    desk.order(user, "tg", idempotency_key="k")
    # When the same key comes with a WhatsApp order
    with pytest.raises(InvalidInput) as refused:
        desk.order(user, "wa", idempotency_key="k")
    # Then it is refused and no second charge happened
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert desk.balance(user.account_id) == 940


def test_order__a_banned_number_is_excluded_next_time(desk):
    # Given a partner that hands out the same number again unless told not to
    desk.partner.phone_pool = ["79001111111", "79002222222"]
    user = desk.account(1000)
    first = desk.order(user)
    desk.past_cancel_window()
    desk.service.ban(user.account_id, int(first.activation_id))
    # When the user orders for the same service again (their account as the next request authenticates it)
    second = desk.order(Account.get(user.account_id, consistent_read=True))
    # Then the partner was asked to exclude the banned number and gave another
    assert desk.partner.asked[-1]["exclude_phones"] == ("79001111111",)
    assert second.phone == "79002222222"


def test_order__an_account_that_never_banned_a_number_costs_no_ban_lookup(desk):
    # Given a user who never reported a bad number
    user = desk.account(1000)
    # When they order
    with count_dynamodb_calls() as calls:
        desk.order(user)
    # Then the banned numbers were not looked up
    assert calls.on("bad_numbers") == []


def test_order__crash_after_debit_leaves_pending_that_the_resolve_job_refunds(desk):
    # Given the process dies while asking the partner (after the debit committed)
    user = desk.account(1000)
    desk.stuck_order(user)
    (stuck,) = Activation.by_account.query(user.account_id)
    assert (stuck.status, desk.balance(user.account_id)) == ("PENDING", 940)
    # When the resolve job runs after the resolve delay
    desk.clock.advance(61)
    resolved = desk.service.resolve_stale_pending()
    # Then the activation failed and was refunded exactly once, even if the job runs again
    desk.service.resolve_stale_pending()
    assert resolved == 1
    assert Activation.get(stuck.activation_id).status == "FAILED"
    assert desk.balance(user.account_id) == 1000
    assert len(desk.refunds(user.account_id)) == 1


def test_resolve_stale_pending__an_order_stuck_before_keys_were_sharded_is_refunded_too(desk):
    # Given an order stuck before the upgrade that sharded the active index (its key the bare PENDING_KEY)
    user = desk.account(1000)
    desk.stuck_order(user)
    (stuck,) = Activation.by_account.query(user.account_id)
    stuck.update(actions=[Activation.active_key.set(PENDING_KEY)])
    # When the resolve job runs after the resolve delay
    desk.clock.advance(61)
    # Then it is found and refunded
    assert desk.service.resolve_stale_pending() == 1
    assert desk.balance(user.account_id) == 1000


def test_order__active_orders_spread_over_the_shards_of_their_index_key(desk):
    # Given a user who orders several numbers
    user = desk.account(1000)
    ordered = [desk.order(user) for _ in range(6)]
    # Then each waits under its partner's name and a shard of it, from the shard count setting
    keys = {str(a.active_key) for a in ordered}
    shards = {f"{desk.partner.name}#{n}" for n in range(desk.settings.write_shards)}
    assert keys <= shards and len(keys) > 1


def test_resolve_stale_pending__leaves_young_orders_alone(desk):
    # Given an order stuck a moment ago
    user = desk.account(1000)
    desk.stuck_order(user)
    # When the resolve job runs before the resolve delay
    desk.clock.advance(30)
    # Then it waits
    assert desk.service.resolve_stale_pending() == 0
    assert desk.balance(user.account_id) == 940


def test_order__number_arriving_after_the_resolve_job_gave_up_is_returned_to_the_partner(desk):
    # Given a partner so slow that the resolve job fails the order while it answers
    user = desk.account(1000)

    def resolve_job_gives_up() -> None:
        desk.clock.advance(61)
        desk.service.resolve_stale_pending()

    desk.while_asking_for_a_number(resolve_job_gives_up)
    # When the order finally gets its number
    activation = desk.order(user)
    # Then the user keeps the refund, the activation stays failed, and the number went back to the partner
    assert activation.status == "FAILED"
    assert desk.balance(user.account_id) == 1000
    assert desk.partner.calls["cancel"] == 1


def test_resolve_stale_pending__a_stale_index_read_never_fails_an_issued_number(desk, monkeypatch):
    # Given an order the resolve job read as PENDING (an index lags) but that got its number since
    user = desk.account(1000)
    seen: list[Activation] = []
    desk.while_asking_for_a_number(lambda: seen.extend(Activation.by_account.query(user.account_id)))
    activation = desk.order(user)
    monkeypatch.setattr("chalicelib.store.activations.active_with", lambda *_, **__: iter(seen))
    # When the resolve job acts on what it read
    desk.clock.advance(61)
    resolved = desk.service.resolve_stale_pending()
    # Then the issued number is untouched and still paid for
    assert (seen[0].status, resolved) == ("PENDING", 0)
    assert Activation.get(activation.activation_id).status == "WAITING"
    assert desk.balance(user.account_id) == 940
