"""Property: whatever mix of top-ups, replays, spending, card refunds, disputes and refund requests, the books hold.

The wallet's own property test covers credits and debits; this one adds the money that goes back
through cards and comes in again from Stripe's events.
"""
from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib import wiring
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import Conflict, InsufficientBalance, PaymentError
from chalicelib.providers.stripe_gateway import RefundResult
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests, RefundStatus
from chalicelib.services.money.stripe_events import StripeEvents
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Posting, Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.payments import TopUp
from tests.clock import FixedClock
from tests.unit.stripe_fake import (
    NOW,
    FakeGateway,
    charge_saved_card,
    dispute_object,
    intent_of,
    new_account,
    no_card_fees,
    refund_object,
    refunded_charge,
    signed,
)

_amounts = st.integers(100, 3000)
_ops = st.lists(st.one_of(
    st.tuples(st.just("top_up"), _amounts),
    st.tuples(st.just("replay"), st.integers(0, 5)),
    st.tuples(st.just("spend"), _amounts),
    st.tuples(st.just("card_refund"), st.integers(0, 5), st.integers(1, 1500)),
    st.tuples(st.just("dispute"), st.integers(0, 5)),
    st.tuples(st.just("dispute_won"), st.integers(0, 5)),
    st.tuples(st.just("request")),
    st.tuples(st.just("approve")),
    st.tuples(st.just("decline")),
), min_size=3, max_size=12)


class _Money:
    """One account driven through the public services, with Stripe faked in memory."""

    def __init__(self, settings) -> None:
        self.account_id = new_account()
        self.gateway = FakeGateway()
        self.topups = TopUps(self.gateway, settings, FixedClock(NOW))
        self.events = StripeEvents(self.gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), wiring.mailer())
        self.refunds = RefundRequests(self.gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), fee_cents=50,
                                      deposit_fees=no_card_fees(self.gateway))
        self.intents: list[str] = []
        self.refund_ids = itertools.count(1)

    def top_up(self, amount: int) -> None:
        intent_id = charge_saved_card(self.topups, self.account_id, amount).payment_intent_id
        self.intents.append(intent_id)
        self.replay(len(self.intents) - 1)

    def replay(self, i: int) -> None:
        if self.intents:
            intent_id = self.intents[i % len(self.intents)]
            self.events.receive(*signed("payment_intent.succeeded", intent_of(self.gateway, intent_id)))

    def spend(self, amount: int) -> None:
        try:
            Wallet(SystemClock(), DynamoMoneyStore()).post(self.account_id, -amount, LedgerKind.ACTIVATION_CHARGE,
                                              f"act_{self.account_id}_{next(self.refund_ids)}")
        except InsufficientBalance:
            pass

    def card_refund(self, i: int, amount: int) -> None:
        """A refund made in Stripe's dashboard, reported with every refund of the charge so far."""
        if not self.intents:
            return
        intent_id = self.intents[i % len(self.intents)]
        try:
            self.gateway.refund(intent_id, amount, f"dashboard:{next(self.refund_ids)}", {})
        except PaymentError:
            return  # Stripe refuses a refund above what is left of the charge
        listed = [refund_object(r.id, r.amount_cents, intent_id) for r in self.gateway.refunds_of(intent_id)]
        self.events.receive(*signed("charge.refunded", refunded_charge(self.gateway, intent_id, listed)))

    def dispute(self, i: int, event_type: str) -> None:
        if self.intents:
            intent_id = self.intents[i % len(self.intents)]
            amount = self.gateway.charges[intent_id].amount_cents
            self.events.receive(*signed(event_type, dispute_object(f"dp_{intent_id}", amount, intent_id)))

    def request(self) -> None:
        try:
            self.refunds.create(self.account_id, "leaving")
        except Conflict:
            pass

    def decide(self, decision: RefundDecision) -> None:
        for request in self.refunds.of_account(self.account_id):
            if request.status == RefundStatus.PENDING.value:
                self.refunds.decide(request.request_id, decision, None, "admin")

    def run(self, op: tuple) -> None:
        name, *args = op
        actions = {
            "top_up": lambda: self.top_up(args[0]), "replay": lambda: self.replay(args[0]),
            "spend": lambda: self.spend(args[0]), "card_refund": lambda: self.card_refund(args[0], args[1]),
            "dispute": lambda: self.dispute(args[0], "charge.dispute.created"),
            "dispute_won": lambda: self.dispute(args[0], "charge.dispute.funds_reinstated"),
            "request": self.request, "approve": lambda: self.decide(RefundDecision.APPROVE),
            "decline": lambda: self.decide(RefundDecision.DECLINE),
        }
        actions[name]()


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_money__any_sequence_keeps_the_books_and_never_refunds_more_than_was_paid(moto_tables, ops):
    # Given an account topped up by card, with Stripe in memory
    money = _Money(moto_tables)
    money.top_up(2000)
    money.top_up(1000)
    # When any sequence of payments, replays, spending, refunds, disputes and refund decisions happens
    for op in ops:
        money.run(op)
    # Then the balance is the ledger's sum, each cause counted once, and money went negative only by a card
    account = Account.get(money.account_id)
    entries = list(LedgerEntry.query(money.account_id))
    assert int(account.balance_cents) == sum(int(e.amount_cents) for e in entries)
    assert len({(e.kind, e.cause_id) for e in entries}) == len(entries)
    taken_by_card = {LedgerKind.DISPUTE.value, LedgerKind.CARD_REFUND.value}
    assert account.balance_cents >= 0 or any(e.kind in taken_by_card for e in entries)
    # And the hold is exactly the open request, and no card got back more than it paid
    pending = [r for r in money.refunds.of_account(money.account_id) if r.status == RefundStatus.PENDING.value]
    assert int(account.held_cents) == sum(int(r.amount_cents) for r in pending)
    for topup in TopUp.by_account.query(money.account_id):
        charge = money.gateway.charges[topup.payment_intent_id]
        assert charge.refunded_cents <= charge.amount_cents
        assert int(topup.refunded_cents) == charge.refunded_cents


def _event_for(money: _Money, refund: RefundResult) -> tuple[bytes, str]:
    """refund.created for a refund the fake made, without the metadata an older API version or a listing may drop."""
    intent_id = next(pi for pi, charge in money.gateway.charges.items() if refund in charge.refunds)
    return signed("refund.created", refund_object(refund.id, refund.amount_cents, intent_id))


def _approve_everything(money: _Money) -> None:
    money.request()
    money.decide(RefundDecision.APPROVE)


def _refunded_once(money: _Money) -> list[tuple[int, int]]:
    """(refunded on our top-up, refunded in Stripe) for each top-up."""
    return [(int(t.refunded_cents), money.gateway.charges[t.payment_intent_id].refunded_cents)
            for t in TopUp.by_account.query(money.account_id)]


def test_decide__a_payout_reported_again_by_stripe_without_its_metadata_is_not_taken_twice(moto_tables):
    # Given 20.00 topped up and a refund request approved (19.50 back to the card, 0.50 fee)
    money = _Money(moto_tables)
    money.top_up(2000)
    _approve_everything(money)
    # When Stripe lists that payout in charge.refunded without its refund_request_id
    intent_id = money.intents[0]
    listed = [refund_object(r.id, r.amount_cents, intent_id) for r in money.gateway.refunds_of(intent_id)]
    money.events.receive(*signed("charge.refunded", refunded_charge(money.gateway, intent_id, listed)))
    # Then the card refund is counted once, on the top-up and in the balance
    assert _refunded_once(money) == [(1950, 1950)]
    assert int(Account.get(money.account_id).balance_cents) == 0


def test_decide__stripe_reporting_the_payout_before_its_response_takes_the_money_once(moto_tables):
    # Given 20.00 topped up, a pending refund request, and Stripe's refund event beating its own response
    money = _Money(moto_tables)
    money.top_up(2000)

    def event_first(refund: RefundResult) -> None:
        money.events.receive(*_event_for(money, refund))

    money.gateway.during_refund = event_first
    # When the request is approved
    _approve_everything(money)
    # Then the refund left the balance once, the request finished, and nothing is held
    account = Account.get(money.account_id)
    assert _refunded_once(money) == [(1950, 1950)]
    assert (int(account.balance_cents), int(account.held_cents)) == (0, 0)
    assert [r.status for r in money.refunds.of_account(money.account_id)] == [RefundStatus.APPROVED.value]


class _EventLandsBeforeTheWrite(Wallet):
    """Delivers Stripe's event for a payout after the payout checked the ledger and before it writes."""

    def __init__(self, money: _Money) -> None:
        super().__init__(FixedClock(NOW), DynamoMoneyStore())
        self.money = money
        self.made: list[RefundResult] = []

    def post(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, **kwargs: Any) -> Posting:
        if kind is LedgerKind.REFUND_PAYOUT and self.made:
            self.money.events.receive(*_event_for(self.money, self.made.pop()))
        return super().post(account_id, amount_cents, kind, cause_id, **kwargs)


def test_decide__stripe_event_racing_the_payout_write_takes_the_money_once(moto_tables):
    # Given 20.00 topped up, and Stripe's event for the payout landing between its check and its write
    money = _Money(moto_tables)
    money.top_up(2000)
    racing = _EventLandsBeforeTheWrite(money)
    money.refunds = RefundRequests(money.gateway, racing, fee_cents=50, deposit_fees=no_card_fees(money.gateway))
    money.gateway.during_refund = racing.made.append
    # When the request is approved
    _approve_everything(money)
    # Then the payout lost to the event without failing: the money left once and the request finished
    account = Account.get(money.account_id)
    assert _refunded_once(money) == [(1950, 1950)]
    assert (int(account.balance_cents), int(account.held_cents)) == (0, 0)
    assert [r.status for r in money.refunds.of_account(money.account_id)] == [RefundStatus.APPROVED.value]
