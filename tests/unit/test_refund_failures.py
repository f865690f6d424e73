"""Card refunds Stripe reports failed, over moto: the amount comes back once, whatever the order or repeats."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.providers.stripe_gateway import RefundResult
from chalicelib.services.accounts.activity import list_activity
from chalicelib.services.money.history import payment_history
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests
from chalicelib.services.money.stripe_events import REFUND_FAILED_ACTIVITY, StripeEvents, WebhookOutcome
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.payments import TopUp
from tests.clock import FixedClock
from tests.unit.stripe_fake import (
    NOW,
    FakeGateway,
    charge_saved_card,
    intent_of,
    no_card_fees,
    refund_object,
    refunded_charge,
    signed,
)

FEE = 100
FAILED_SUBJECT = "Your SMS Rooms refund did not reach your card"


@dataclass
class Outbox:
    """A mailer that keeps what it sends: (to, subject, body)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> str:
        self.sent.append((to, subject, body))
        return f"msg_{len(self.sent)}"

    def failed_refund_mails(self, to: str) -> list[str]:
        return [body for address, subject, body in self.sent if (address, subject) == (to, FAILED_SUBJECT)]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def events(module_tables: Settings, gateway: FakeGateway, outbox: Outbox) -> StripeEvents:
    return StripeEvents(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), outbox)


@pytest.fixture
def refunds(module_tables: Settings, gateway: FakeGateway) -> RefundRequests:
    return RefundRequests(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), fee_cents=FEE,
                          deposit_fees=no_card_fees(gateway))


@pytest.fixture
def pay(module_tables: Settings, gateway: FakeGateway, events: StripeEvents) -> Callable[[str, int], str]:
    """Tops an account up by card through the public services: pay(account_id, amount) -> payment_intent_id."""
    topups = TopUps(gateway, module_tables, FixedClock(NOW))

    def top_up(account_id: str, amount_cents: int) -> str:
        intent_id = charge_saved_card(topups, account_id, amount_cents).payment_intent_id
        assert events.receive(*signed("payment_intent.succeeded", intent_of(gateway, intent_id))) is (
            WebhookOutcome.APPLIED)
        return intent_id

    return top_up


def _approved_payout(refunds: RefundRequests, gateway: FakeGateway, account_id: str, intent_id: str
                     ) -> tuple[str, RefundResult]:
    """A refund request of the whole balance, approved: (request_id, the card refund Stripe made for it)."""
    request = refunds.create(account_id, "Leaving")
    refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    [refund] = gateway.refunds_of(intent_id)
    return request.request_id, refund


def _failed(refund_id: str, amount_cents: int, intent_id: str, metadata: dict[str, str] | None = None,
            status: str = "failed") -> dict[str, Any]:
    """The refund as Stripe reports it once the card's bank sent it back."""
    return {**refund_object(refund_id, amount_cents, intent_id, metadata), "status": status,
            "failure_reason": "expired_or_canceled_card"}


def _fails_in_stripe(gateway: FakeGateway, intent_id: str, refund_id: str) -> None:
    """Stripe's side of a failed refund: it no longer counts against the charge."""
    charge = gateway.charges[intent_id]
    charge.refunds = [r for r in charge.refunds if r.id != refund_id]


def _ledger(account_id: str) -> list[tuple[str, int]]:
    return [(e.kind, int(e.amount_cents)) for e in LedgerEntry.query(account_id)]


def _balance(account_id: str) -> int:
    return int(Account.get(account_id, consistent_read=True).balance_cents)


def _books_balance(account_id: str) -> bool:
    return _balance(account_id) == sum(amount for _, amount in _ledger(account_id))


def _topup_of(intent_id: str) -> TopUp:
    return next(iter(TopUp.by_payment_intent.query(intent_id)))


def test_receive__failed_payout_gives_the_amount_back_once_with_an_email_and_an_activity_entry(
        acc, pay, refunds, events, gateway, outbox):
    # Given 20.00 topped up and a refund request approved: 19.00 refunded to the card, the 1.00 fee kept
    intent_id = pay(acc, 2000)
    request_id, refund = _approved_payout(refunds, gateway, acc, intent_id)
    assert _balance(acc) == 0
    metadata = {"refund_request_id": request_id, "account_id": acc, "topup_id": _topup_of(intent_id).topup_id}
    failed = _failed(refund.id, 1900, intent_id, metadata)
    # When Stripe reports the card refund failed
    outcome = events.receive(*signed("refund.failed", failed))
    # Then the 19.00 is back on the balance, the books balance, and the top-up can be refunded again
    assert outcome is WebhookOutcome.APPLIED
    assert sorted(_ledger(acc)) == sorted([("top_up", 2000), ("refund_payout", -1900), ("refund_payout", -FEE),
                                           ("refund_reversal", 1900)])
    assert _balance(acc) == 1900 and _books_balance(acc)
    assert _topup_of(intent_id).refundable_cents == 2000
    # And the user is emailed once and sees it in the activity log and on the payments page
    [mail] = outbox.failed_refund_mails(f"{acc}@example.com")
    assert "19.00 USD" in mail and refund.id in mail
    activity = list_activity(acc, clock=FixedClock(NOW)).entries
    assert [e.kind for e in activity] == [REFUND_FAILED_ACTIVITY]
    reversal = [r for r in payment_history(acc).records if r.kind == LedgerKind.REFUND_REVERSAL.value]
    assert [(r.ref_id, int(r.amount_cents), r.refund_request_id) for r in reversal] == [(refund.id, 1900, request_id)]


@pytest.mark.parametrize(("event_type", "status"), [("refund.failed", "failed"), ("refund.updated", "failed"),
                                                     ("charge.refund.updated", "canceled")])
def test_receive__failed_dashboard_refund_gives_back_what_it_took(acc, pay, events, outbox, event_type, status):
    # Given 20.00 topped up and 5.00 refunded from Stripe's dashboard
    intent_id = pay(acc, 2000)
    refund_id = f"re_dash{acc}"
    events.receive(*signed("refund.created", refund_object(refund_id, 500, intent_id)))
    assert _balance(acc) == 1500
    # When Stripe reports that refund failed or canceled
    outcome = events.receive(*signed(event_type, _failed(refund_id, 500, intent_id, status=status)))
    # Then the 5.00 is back, once, and the user is told
    assert outcome is WebhookOutcome.APPLIED
    assert sorted(_ledger(acc)) == sorted([("top_up", 2000), ("card_refund", -500), ("refund_reversal", 500)])
    assert _balance(acc) == 2000 and _books_balance(acc)
    assert _topup_of(intent_id).refunded_cents == 0
    assert len(outbox.failed_refund_mails(f"{acc}@example.com")) == 1


def test_receive__a_failure_listed_in_charge_refunded_gives_that_refund_back(acc, pay, events, gateway):
    # Given 20.00 topped up, refunded 4.00 then 6.00 from Stripe's dashboard
    intent_id = pay(acc, 2000)
    first, second = refund_object(f"re_a{acc}", 400, intent_id), refund_object(f"re_b{acc}", 600, intent_id)
    events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, [second, first])))
    # When a later charge.refunded lists the first as failed
    listed = [second, _failed(first["id"], 400, intent_id)]
    events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, listed), "evt_later"))
    # Then only the failed one came back
    assert sorted(_ledger(acc)) == sorted([("top_up", 2000), ("card_refund", -400), ("card_refund", -600),
                                           ("refund_reversal", 400)])
    assert _balance(acc) == 1400 and _topup_of(intent_id).refunded_cents == 600


def test_receive__repeated_and_reordered_failure_events_credit_once(acc, pay, refunds, events, gateway, outbox):
    # Given an approved payout of 19.00 whose card refund failed
    intent_id = pay(acc, 2000)
    request_id, refund = _approved_payout(refunds, gateway, acc, intent_id)
    failed = _failed(refund.id, 1900, intent_id, {"refund_request_id": request_id})
    succeeded = refund_object(refund.id, 1900, intent_id, {"refund_request_id": request_id})
    # When every event about it comes, failures several times and an old "succeeded" snapshot last
    outcomes = [events.receive(*signed(event_type, obj, f"evt_{n}")) for n, (event_type, obj) in enumerate([
        ("refund.failed", failed), ("refund.failed", failed), ("refund.updated", failed),
        ("charge.refund.updated", failed), ("refund.created", succeeded), ("refund.updated", succeeded)])]
    # Then the money came back once, one email went out, and the balance is the ledger's sum
    assert outcomes[0] is WebhookOutcome.APPLIED
    assert set(outcomes[1:4]) == {WebhookOutcome.DUPLICATE}
    assert [kind for kind, _ in _ledger(acc)].count("refund_reversal") == 1
    assert _balance(acc) == 1900 and _books_balance(acc)
    assert len(outbox.failed_refund_mails(f"{acc}@example.com")) == 1


def test_receive__failure_before_the_refund_itself_never_takes_the_money(acc, pay, events, outbox):
    # Given 20.00 topped up and a dashboard refund of 5.00 that Stripe has already failed
    intent_id = pay(acc, 2000)
    refund_id = f"re_late{acc}"
    # When the failure arrives first, then the refund's creation (succeeded at the time), then the failure again
    outcomes = [events.receive(*signed("refund.failed", _failed(refund_id, 500, intent_id))),
                events.receive(*signed("refund.created", refund_object(refund_id, 500, intent_id))),
                events.receive(*signed("refund.failed", _failed(refund_id, 500, intent_id), "evt_again"))]
    # Then nothing was taken and nothing was given: the balance is the 20.00 paid in, and nobody was emailed
    assert outcomes == [WebhookOutcome.IGNORED, WebhookOutcome.DUPLICATE, WebhookOutcome.IGNORED]
    assert _ledger(acc) == [("top_up", 2000)]
    assert _topup_of(intent_id).refunded_cents == 0
    assert outbox.failed_refund_mails(f"{acc}@example.com") == []


def test_decide__a_payout_whose_failure_was_reported_first_is_not_taken(acc, pay, refunds, events, gateway, outbox):
    # Given 20.00 topped up, a refund request, and Stripe reporting the card refund failed before answering us
    intent_id = pay(acc, 2000)
    request = refunds.create(acc, "Leaving")

    def fails_at_once(refund: RefundResult) -> None:
        failed = _failed(refund.id, refund.amount_cents, intent_id, {"refund_request_id": request.request_id})
        assert events.receive(*signed("refund.failed", failed)) is WebhookOutcome.IGNORED

    gateway.during_refund = fails_at_once
    # When the request is approved
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then nothing left the balance: the 19.00 never reached the card, and with no card paid there is no fee
    assert _ledger(acc) == [("top_up", 2000)]
    assert _balance(acc) == 2000 and _books_balance(acc)
    assert Account.get(acc).held_cents == 0
    assert _topup_of(intent_id).refunded_cents == 0
    # And the request says so: nothing paid, all of it left on the balance
    assert (decided.paid_cents, decided.fee_cents, decided.uncovered_cents) == (0, 0, 2000)


def test_decide__a_top_up_whose_refund_failed_can_be_refunded_again(acc, pay, refunds, events, gateway):
    # Given a payout of 19.00 that failed and came back to the balance
    intent_id = pay(acc, 2000)
    _, refund = _approved_payout(refunds, gateway, acc, intent_id)
    _fails_in_stripe(gateway, intent_id, refund.id)
    events.receive(*signed("refund.failed", _failed(refund.id, 1900, intent_id)))
    # When the user asks again and an admin approves
    again = refunds.create(acc, "Try my card again")
    decided = refunds.decide(again.request_id, RefundDecision.APPROVE, None, "admin")
    # Then the same top-up pays it out again (the second fee kept), and the books balance
    assert [r.amount_cents for r in gateway.refunds_of(intent_id)] == [1800]
    assert decided.paid_cents == 1800
    assert _balance(acc) == 0 and _books_balance(acc)
    assert _topup_of(intent_id).refunded_cents == 1800


def test_receive__failed_refund_of_no_top_up_of_ours_is_ignored(acc, pay, events, outbox):
    # Given an account with a paid top-up
    intent_id = pay(acc, 2000)
    # When Stripe reports failed refunds on a payment that is not ours, and on ours in another currency
    foreign = events.receive(*signed("refund.failed", _failed(f"re_x{acc}", 500, "pi_not_ours")))
    other_currency = events.receive(*signed("refund.failed", {**_failed(f"re_y{acc}", 500, intent_id),
                                                              "currency": "eur"}))
    # Then both are acknowledged and change nothing
    assert (foreign, other_currency) == (WebhookOutcome.IGNORED, WebhookOutcome.IGNORED)
    assert _ledger(acc) == [("top_up", 2000)]
    assert outbox.sent == []
