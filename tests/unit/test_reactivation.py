"""Another code on a number used before (reactivation): the money rules of an order, over moto with fake partners."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.errors import (
    InvalidInput,
    NotFound,
    PartnerError,
    PriceAboveMax,
    ReactivationUnavailable,
)
from chalicelib.providers.base import PartnerNoNumbers, PartnerUnavailable
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from tests.fake_partner import FakePartner
from tests.support import activations_facade
from tests.unit.activation_support import Desk
from tests.unit.dynamo_calls import count_dynamodb_calls

# The fake partner quotes 40 for the number again; with the desk's 50 % markup that sells at 60.
PRICE = 60
# What one reactivation costs in DynamoDB calls (docs/benchmarks.md): read the parent, the one debit transaction,
# the issue update.
REACTIVATION_CALL_BUDGET = 3


def _charges(desk: Desk, account_id: str) -> list[int]:
    return [int(e.amount_cents) for e in desk.ledger(account_id) if e.kind == LedgerKind.ACTIVATION_CHARGE.value]


def _fresh(user: Account) -> Account:
    """The account as authentication reads it for a request."""
    return Account.get(user.account_id, consistent_read=True)


def _reactivate(desk: Desk, user: Account, parent: Activation, **kwargs) -> Activation:
    return desk.service.reactivate(_fresh(user), int(parent.activation_id), **kwargs)


def test_reactivate__charges_the_partner_price_with_markup_once_on_the_same_number(desk):
    # Given a user whose Telegram number got its code and was finished
    user, parent = desk.used_number(1000)
    desk.partner.reactivation_cost = 40
    # When they ask for another code on it
    again = _reactivate(desk, user, parent)
    # Then a new waiting activation on the same number is charged 0.60 (0.40 + 50 %) in one ledger entry
    assert (again.status, again.phone, again.price_cents) == ("WAITING", parent.phone, PRICE)
    assert int(again.reactivation_of) == int(parent.activation_id) != int(again.activation_id)
    assert _charges(desk, user.account_id) == [-60, -PRICE]
    assert desk.balance(user.account_id) == 1000 - 60 - PRICE


def test_reactivation_quote__is_the_price_the_reactivation_charges_and_debits_nothing(desk):
    # Given a used number whose partner now asks 0.50 for it
    user, parent = desk.used_number(1000)
    desk.partner.reactivation_cost = 50
    # When the user asks what another code costs
    quote = desk.service.reactivation_quote(_fresh(user), int(parent.activation_id))
    # Then it is 0.75 with our markup, and nothing was charged
    assert quote.price_cents == 75
    assert desk.balance(user.account_id) == 1000 - 60


def test_reactivate__a_number_that_never_got_a_code_is_not_available_and_debits_nothing(desk):
    # Given a number still waiting for its first SMS
    user, waiting = desk.waiting_number(1000)
    # When the user asks for another code on it
    with pytest.raises(ReactivationUnavailable, match="received a code"):
        _reactivate(desk, user, waiting)
    # Then nothing was charged and the partner was not asked
    assert desk.balance(user.account_id) == 940
    assert desk.partner.calls["reactivation_cost_minor"] == 0


def test_reactivate__a_reported_number_is_not_sold_again(desk):
    # Given a number the user reported as unusable after its code
    user, parent = desk.waiting_number(1000)
    desk.received(user, parent)
    banned = desk.service.ban(user.account_id, int(parent.activation_id))
    # When they ask for another code on it
    with pytest.raises(ReactivationUnavailable, match="reported"):
        _reactivate(desk, user, banned)
    # Then nothing more was charged
    assert _charges(desk, user.account_id) == [-60]


def test_reactivate__the_partner_refusing_the_number_is_not_available_and_debits_nothing(desk):
    # Given a used number whose partner no longer holds it (its window is over)
    user, parent = desk.used_number(1000)
    desk.partner.rented[str(parent.partner_activation_id)].sms.clear()
    # When the user asks for another code
    with pytest.raises(ReactivationUnavailable, match="no longer offers"):
        _reactivate(desk, user, parent)
    # Then nothing was charged
    assert _charges(desk, user.account_id) == [-60]


class _NoReactivations:
    """A partner whose protocol has no reactivation (an SMSHub agent, a clone): every other call is the fake's."""

    def __init__(self, inner: FakePartner) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str):
        if name in ("reactivation_cost_minor", "reactivate"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_reactivate__a_partner_without_reactivations_is_skipped_as_not_available(settings, moto_tables):
    # Given a partner that cannot sell a number again, and a number of it that got its code
    desk = Desk(settings)
    user, parent = desk.used_number(1000)
    plain = _NoReactivations(desk.partner)
    desk.service = activations_facade(desk.settings, [plain], desk.clock, desk.webhooks)  # type: ignore[list-item]
    # When the user asks for another code
    with pytest.raises(ReactivationUnavailable, match="does not sell it again"):
        _reactivate(desk, user, parent)
    # Then nothing was charged
    assert _charges(desk, user.account_id) == [-60]


def test_reactivate__a_partner_failing_after_the_debit_refunds_at_once_exactly_once(desk):
    # Given a used number whose partner quotes a price, then fails to reopen it
    user, parent = desk.used_number(1000)
    desk.partner.reactivation_failure = PartnerNoNumbers("sim offline")
    # When the user asks for another code
    failed = _reactivate(desk, user, parent)
    # Then the new activation failed and its charge was refunded once: the balance is as before
    assert failed.status == "FAILED"
    assert [int(e.amount_cents) for e in desk.refunds(user.account_id)] == [PRICE]
    assert desk.balance(user.account_id) == 940


def test_reactivate__a_crash_between_debit_and_partner_is_refunded_once_by_the_resolve_job(desk):
    # Given the process dies while asking the partner to reopen the number, after the debit committed
    user, parent = desk.used_number(1000)
    desk.partner.reactivation_failure = SystemExit("killed")
    with pytest.raises(SystemExit):
        _reactivate(desk, user, parent)
    assert desk.balance(user.account_id) == 940 - PRICE
    # When the resolve job runs past its delay, twice
    desk.clock.advance(desk.settings.pending_resolve_after_seconds + 1)
    resolved = desk.service.resolve_stale_pending() + desk.service.resolve_stale_pending()
    # Then the stuck reactivation failed and was refunded exactly once
    assert resolved == 1
    assert [int(e.amount_cents) for e in desk.refunds(user.account_id)] == [PRICE]
    assert desk.balance(user.account_id) == 940


def test_reactivate__above_the_users_maximum_is_refused_before_any_debit(desk):
    # Given a used number whose reactivation sells at 0.60
    user, parent = desk.used_number(1000)
    # When the user will pay at most 0.59
    with pytest.raises(PriceAboveMax) as refused:
        _reactivate(desk, user, parent, max_price_cents=PRICE - 1)
    # Then they are told the price and nothing was charged
    assert refused.value.details == {"min_price_cents": PRICE}
    assert _charges(desk, user.account_id) == [-60]


@pytest.mark.parametrize("max_price", [0, -1, 10**12])
def test_reactivate__an_impossible_maximum_is_invalid_input_before_anything(desk, max_price):
    user, parent = desk.used_number(1000)
    with pytest.raises(InvalidInput):
        _reactivate(desk, user, parent, max_price_cents=max_price)
    assert desk.partner.calls["reactivation_cost_minor"] == 0


def test_reactivate__another_users_activation_is_not_found(desk):
    # Given someone else's used number
    _, theirs = desk.used_number(1000)
    me = desk.account(1000)
    # When I ask for another code on it
    with pytest.raises(NotFound):
        _reactivate(desk, me, theirs)
    # Then I paid nothing and their partner was not asked
    assert desk.balance(me.account_id) == 1000
    assert desk.partner.calls["reactivation_cost_minor"] == 0


def test_reactivate__the_same_idempotency_key_answers_the_first_reactivation(desk):
    # Given a used number and a reactivation made with a key
    user, parent = desk.used_number(1000)
    first = _reactivate(desk, user, parent, idempotency_key="again-1")
    # When the request is retried with the same key
    second = _reactivate(desk, user, parent, idempotency_key="again-1")
    # Then it is the same activation, charged once
    assert int(second.activation_id) == int(first.activation_id)
    assert _charges(desk, user.account_id) == [-60, -PRICE]


def test_reactivate__cancel_before_the_code_refunds_by_the_order_policy(desk):
    # Given a reactivation whose new code has not arrived, past the early-cancel window
    user, parent = desk.used_number(1000)
    again = _reactivate(desk, user, parent)
    desk.past_cancel_window()
    # When the user cancels it
    canceled = desk.service.cancel(user.account_id, int(again.activation_id))
    # Then it is refunded in full, once, like any order
    assert canceled.status == "CANCELED"
    assert [int(e.amount_cents) for e in desk.refunds(user.account_id)] == [PRICE]


def test_reactivate__a_partner_that_quotes_no_price_is_charged_its_listed_price(desk):
    # Given a partner that quotes nothing for a reuse (5sim) and lists Telegram in Russia at 0.40
    user, parent = desk.used_number(1000)
    desk.partner.reactivation_cost = None
    # When the user asks for another code
    again = _reactivate(desk, user, parent)
    # Then the listed cost with our markup is charged
    assert again.price_cents == 60


def test_reactivate__a_partner_that_cannot_be_reached_for_a_quote_is_a_partner_error(desk, monkeypatch):
    user, parent = desk.used_number(1000)

    def unreachable(*_args):
        raise PartnerUnavailable("timeout")

    monkeypatch.setattr(desk.partner, "reactivation_cost_minor", unreachable)
    with pytest.raises(PartnerError):
        _reactivate(desk, user, parent)
    assert _charges(desk, user.account_id) == [-60]


def test_reactivate_number__uses_the_newest_order_on_the_number_and_refuses_an_unknown_one(desk):
    # Given a used Telegram number
    user, parent = desk.used_number(1000)
    # When the user names the number and the service (5sim's reuse)
    again = desk.service.reactivate_number(_fresh(user), "tg", str(parent.phone))
    # Then the number is reactivated; a number they never had is not available
    assert int(again.reactivation_of) == int(parent.activation_id)
    with pytest.raises(ReactivationUnavailable):
        desk.service.reactivate_number(_fresh(user), "tg", "79999999999")


def test_reactivate__dynamodb_calls_within_budget(desk):
    # Given a used number (the account as authentication read it)
    user, parent = desk.used_number(1000)
    account = _fresh(user)
    # When it is reactivated
    with count_dynamodb_calls() as calls:
        again = desk.service.reactivate(account, int(parent.activation_id))
    # Then it took one transaction and no more than the budget in all
    assert again.status == "WAITING"
    assert calls.by_operation()["TransactWriteItems"] == 1
    assert len(calls) <= REACTIVATION_CALL_BUDGET, calls.operations
