"""Refund requests (6.3) over moto: balance held; approval refunds cards newest first minus the fee; decline frees."""
from __future__ import annotations

import pytest

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import Conflict, InsufficientBalance, InvalidInput, PaymentError
from chalicelib.providers.stripe_gateway import RefundResult
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests, RefundStatus
from chalicelib.services.money.stripe_events import StripeEvents
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from tests.clock import FixedClock
from tests.unit.stripe_fake import (
    NOW,
    FakeGateway,
    new_account,
    no_card_fees,
    refund_object,
    signed,
)

FEE = 100


@pytest.fixture
def refunds(module_tables: Settings, gateway: FakeGateway) -> RefundRequests:
    return RefundRequests(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), fee_cents=FEE,
                          deposit_fees=no_card_fees(gateway))


def _account(account_id: str) -> Account:
    return Account.get(account_id)


def _payouts(account_id: str) -> list[tuple[str, int]]:
    return [(e.cause_id, int(e.amount_cents)) for e in LedgerEntry.query(account_id)
            if e.kind == LedgerKind.REFUND_PAYOUT.value]


def test_create__holds_the_whole_available_balance(acc, pay, refunds):
    # Given 12.00 on the balance
    pay(acc, 1200)
    # When a refund is requested
    request = refunds.create(acc, "Leaving the service")
    # Then all of it is held under a pending request, and none of it can be spent
    assert (request.amount_cents, request.status) == (1200, RefundStatus.PENDING.value)
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (1200, 1200)
    with pytest.raises(InsufficientBalance):
        Wallet(SystemClock(), DynamoMoneyStore()).post(acc, -1, LedgerKind.ACTIVATION_CHARGE, f"act_1{acc}")


def test_create__a_second_request_while_one_is_pending_is_refused(acc, pay, refunds):
    # Given a pending request
    pay(acc, 1200)
    refunds.create(acc, "first")
    # When another is made / Then it is refused
    with pytest.raises(Conflict) as raised:
        refunds.create(acc, "second")
    assert raised.value.code == "REFUND_REQUEST_PENDING"


def test_create__balance_not_above_the_fee_is_nothing_to_refund(acc, refunds):
    # Given a balance of exactly the fee
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, FEE, LedgerKind.ADJUSTMENT, f"adj_1{acc}")
    # When a refund is requested / Then there is nothing to pay back, and nothing is held
    with pytest.raises(Conflict) as raised:
        refunds.create(acc, "please")
    assert raised.value.code == "NOTHING_TO_REFUND"
    assert _account(acc).held_cents == 0


def test_create__a_request_without_a_reason_is_refused(acc, refunds):
    with pytest.raises(InvalidInput):
        refunds.create(acc, "   ")


def test_decide__approval_refunds_newest_top_ups_first_minus_the_fee(acc, pay, refunds, gateway):
    # Given top-ups of 10.00 then 5.00, 3.00 spent, and a request for the 12.00 left
    older, newer = pay(acc, 1000), pay(acc, 500)
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, -300, LedgerKind.ACTIVATION_CHARGE, f"act_1{acc}")
    request = refunds.create(acc, "Leaving")
    # When an admin approves it
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, "ok", "admin@example.com")
    # Then 5.00 goes back to the newer card, 6.00 to the older, the 1.00 fee is kept, and the hold is gone
    assert [r.amount_cents for r in gateway.refunds_of(newer)] == [500]
    assert [r.amount_cents for r in gateway.refunds_of(older)] == [600]
    assert sorted(_payouts(acc)) == sorted([(f"{request.request_id}:{newer}", -500),
                                         (f"{request.request_id}:{older}", -600),
                                         (f"{request.request_id}:fee", -FEE)])
    assert (decided.status, decided.paid_cents, decided.fee_cents, decided.uncovered_cents) == (
        RefundStatus.APPROVED.value, 1100, FEE, 0)
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (0, 0)
    assert f"refund:{request.request_id}:{newer}" in gateway.keys


def test_decide__money_cards_cannot_take_back_stays_and_is_reported(acc, pay, refunds, gateway):
    # Given 5.00 paid by card and 20.00 given by an admin
    intent_id = pay(acc, 500)
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, 2000, LedgerKind.ADJUSTMENT, f"adj_1{acc}")
    request = refunds.create(acc, "Leaving")
    # When the 25.00 request is approved
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then only what was paid in goes back to the card; the rest stays spendable and the request says so
    assert [r.amount_cents for r in gateway.refunds_of(intent_id)] == [500]
    assert (decided.paid_cents, decided.fee_cents, decided.uncovered_cents) == (500, FEE, 1900)
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (1900, 0)


def test_decide__what_stripe_refunded_already_is_not_refunded_again(acc, pay, refunds, gateway):
    # Given a 10.00 top-up of which Stripe's dashboard refunded 4.00 (reported by charge.refunded)
    intent_id = pay(acc, 1000)
    events = StripeEvents(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), wiring.mailer())
    gateway.refund(intent_id, 400, f"dashboard{acc}", {})
    charge = {"id": "ch_x", "payment_intent": intent_id, "currency": "usd", "amount_refunded": 400,
              "refunds": {"data": [{"id": f"re_dash{acc}", "amount": 400, "currency": "usd", "status": "succeeded",
                                    "metadata": {}}]}}
    events.receive(*signed("charge.refunded", charge))
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, 5000, LedgerKind.ADJUSTMENT, f"adj_1{acc}")
    request = refunds.create(acc, "Leaving")
    # When the request is approved
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then the card gets back only the 6.00 still refundable: never more than was paid in
    assert [r.amount_cents for r in gateway.refunds_of(intent_id)] == [400, 600]
    assert decided.paid_cents == 600


def test_decide__approving_again_after_a_stripe_failure_finishes_without_paying_twice(acc, pay, refunds, gateway):
    # Given two top-ups and Stripe failing on the older card's refund once
    older, newer = pay(acc, 1000), pay(acc, 500)
    request = refunds.create(acc, "Leaving")
    gateway.failing_refunds.add(older)
    with pytest.raises(PaymentError):
        refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # When the admin approves again
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then each card was refunded once and the books close
    assert [r.amount_cents for r in gateway.refunds_of(newer)] == [500]
    assert [r.amount_cents for r in gateway.refunds_of(older)] == [900]
    assert decided.status == RefundStatus.APPROVED.value
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (0, 0)
    assert sum(amount for _, amount in _payouts(acc)) == -1500


def test_decide__a_crash_after_stripe_refunded_is_healed_by_the_webhook_and_never_pays_twice(
        acc, pay, refunds, gateway):
    # Given 20.00 topped up, and an approval that dies after Stripe made the 19.00 refund, before our write
    intent_id = pay(acc, 2000)
    request = refunds.create(acc, "Leaving")

    def lambda_dies(refund: RefundResult) -> None:
        raise RuntimeError("the Lambda was killed")

    gateway.during_refund = lambda_dies
    with pytest.raises(RuntimeError):
        refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    [made] = gateway.refunds_of(intent_id)
    # When Stripe's refund event arrives, and the admin approves again after Stripe forgot the idempotency key
    events = StripeEvents(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), wiring.mailer())
    events.receive(*signed("refund.created", refund_object(made.id, made.amount_cents, intent_id,
                                                           {"refund_request_id": request.request_id})))
    gateway.during_refund = None
    gateway.keys.clear()
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then the card was refunded once, the ledger took it once, and the request closed as paid
    assert [r.amount_cents for r in gateway.refunds_of(intent_id)] == [1900]
    assert sorted(amount for _, amount in _payouts(acc)) == [-1900, -FEE]
    assert (decided.status, decided.paid_cents, decided.uncovered_cents) == (RefundStatus.APPROVED.value, 1900, 0)
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (0, 0)


def test_decide__stripe_refusing_for_another_reason_is_retried_not_written_off(acc, pay, refunds, gateway):
    # Given a refund Stripe turns down for a reason a retry may cure (a key being rotated, a stale record)
    intent_id = pay(acc, 1000)
    request = refunds.create(acc, "Leaving")
    gateway.failing_refunds.add(intent_id)
    gateway.failure = PaymentError("The payment could not be processed.")
    # When the admin approves / Then the decision fails and the money stays held for the retry
    with pytest.raises(PaymentError):
        refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (1000, 1000)
    assert refunds.get(request.request_id).status == RefundStatus.APPROVING.value


def test_decide__a_card_stripe_refuses_to_refund_leaves_its_share_on_the_balance(acc, pay, refunds, gateway):
    # Given two top-ups, the older one a payment Stripe will not refund any more (too old, disputed…)
    older, newer = pay(acc, 1000), pay(acc, 500)
    request = refunds.create(acc, "Leaving")
    gateway.refusing_refunds.add(older)
    # When the admin approves the request
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then the refundable card got its money back minus the fee, and the request is closed rather than stuck
    assert [r.amount_cents for r in gateway.refunds_of(newer)] == [500]
    assert gateway.refunds_of(older) == []
    assert (decided.status, decided.paid_cents, decided.fee_cents, decided.uncovered_cents) == (
        RefundStatus.APPROVED.value, 500, FEE, 900)
    # And the refused share is back on the spendable balance, held no more
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (900, 0)
    # And the decided request cannot be approved again
    with pytest.raises(Conflict):
        refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    assert (_account(acc).balance_cents, gateway.refunds_of(older)) == (900, [])


def test_decide__no_fee_when_stripe_refuses_every_card(acc, pay, refunds, gateway):
    # Given one top-up Stripe will not refund
    intent_id = pay(acc, 1000)
    request = refunds.create(acc, "Leaving")
    gateway.refusing_refunds.add(intent_id)
    # When the admin approves the request
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then nothing left and no fee was taken: the whole balance is spendable again
    assert (decided.paid_cents, decided.fee_cents, decided.uncovered_cents) == (0, 0, 1000)
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (1000, 0)
    assert _payouts(acc) == []


def test_decide__decline_releases_the_hold_and_cannot_be_decided_again(acc, pay, refunds, gateway):
    # Given a pending request for 12.00
    pay(acc, 1200)
    request = refunds.create(acc, "Leaving")
    # When it is declined
    decided = refunds.decide(request.request_id, RefundDecision.DECLINE, "Not eligible", "admin")
    # Then the money is spendable again, no card was refunded, and a later approval is refused
    assert (decided.status, decided.decision_note) == (RefundStatus.DECLINED.value, "Not eligible")
    assert (_account(acc).balance_cents, _account(acc).held_cents) == (1200, 0)
    assert all(not c.refunds for c in gateway.charges.values())
    with pytest.raises(Conflict):
        refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")


def test_with_status__lists_pending_requests_for_admins(acc, pay, refunds):
    # Given two accounts with pending requests, one decided
    other = new_account()
    pay(acc, 1200)
    pay(other, 800)
    first = refunds.create(acc, "one")
    second = refunds.create(other, "two")
    refunds.decide(first.request_id, RefundDecision.DECLINE, None, "admin")
    # When the admin lists pending requests / Then only the undecided one shows
    pending = {r.request_id for r in refunds.with_status(RefundStatus.PENDING)}
    assert second.request_id in pending and first.request_id not in pending

