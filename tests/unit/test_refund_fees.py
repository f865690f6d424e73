"""6.3 "deposit fees are non-refundable": a refund pays each card back its payment less that payment's processing fee
(Stripe's figure, else the configured estimate), withheld once per payment, shown before the request is made."""
from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.services.money.refund_plan import DepositFees, FeeEstimate
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.payments import TopUp
from tests.clock import FixedClock
from tests.unit.stripe_fake import NOW, FakeGateway

STANDARD = FeeEstimate(basis_points=290, fixed_cents=30)  # 2.9 % + 30 cents


@pytest.fixture
def refunds(module_tables: Settings, gateway: FakeGateway) -> RefundRequests:
    return RefundRequests(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), fee_cents=0,
                          deposit_fees=DepositFees(gateway, STANDARD))


def _ledger(account_id: str) -> list[tuple[str, int]]:
    return [(e.cause_id, int(e.amount_cents)) for e in LedgerEntry.query(account_id)
            if e.kind == LedgerKind.REFUND_PAYOUT.value]


def _books_close(account_id: str) -> bool:
    account = Account.get(account_id, consistent_read=True)
    return int(account.balance_cents) == sum(int(e.amount_cents) for e in LedgerEntry.query(account_id))


def test_approve__each_card_gets_its_payment_back_less_its_own_fee(acc, pay, refunds, gateway):
    # Given 10.00 paid (Stripe says it kept 0.59) and then 20.00 (Stripe does not say: 2.9 % + 30 = 0.88)
    older, newer = pay(acc, 1000), pay(acc, 2000)
    gateway.fees[older] = 59
    # When the user sees what a refund would pay, asks for it, and an admin approves
    preview = refunds.preview(acc)
    request = refunds.create(acc, "Leaving")
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then each card got its payment less its fee, as the preview said, and the fees left by their own entries
    assert [r.amount_cents for r in gateway.refunds_of(newer)] == [1912]
    assert [r.amount_cents for r in gateway.refunds_of(older)] == [941]
    assert [(p.amount_cents, p.fee_cents, p.fee_source) for p in preview.parts] == [
        (1912, 88, "estimate"), (941, 59, "stripe")]
    assert (decided.paid_cents, decided.deposit_fee_cents, decided.uncovered_cents) == (2853, 147, 0)
    assert sorted(_ledger(acc)) == sorted([
        (f"{request.request_id}:{newer}", -1912), (f"{request.request_id}:{newer}:fee", -88),
        (f"{request.request_id}:{older}", -941), (f"{request.request_id}:{older}:fee", -59)])
    # And nothing is left, the ledger adds up to the balance, and Stripe's figure is kept on the top-up
    assert Account.get(acc).balance_cents == 0 and _books_close(acc)
    assert [int(t.fee_cents or -1) for t in TopUp.by_account.query(acc)] == [59, -1]


def test_approve__a_payment_drawn_on_twice_has_its_fee_withheld_once(acc, pay, refunds, gateway):
    # Given 20.00 paid (fee 0.88), 10.00 of it spent, and the other 10.00 refunded
    intent_id = pay(acc, 2000)
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, -1000, LedgerKind.ACTIVATION_CHARGE, f"act_1{acc}")
    first = refunds.create(acc, "Leaving")
    refunds.decide(first.request_id, RefundDecision.APPROVE, None, "admin")
    # When an admin later credits 5.00 and that is refunded too
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, 500, LedgerKind.ADJUSTMENT, f"adj_1{acc}")
    second = refunds.decide(refunds.create(acc, "Again").request_id, RefundDecision.APPROVE, None, "admin")
    # Then the card got 9.12 and then the whole 5.00: the payment's fee was kept the first time only
    assert [r.amount_cents for r in gateway.refunds_of(intent_id)] == [912, 500]
    assert (second.paid_cents, second.deposit_fee_cents) == (500, 0)
    assert Account.get(acc).balance_cents == 0 and _books_close(acc)


def test_approve__a_card_that_refuses_the_refund_keeps_no_fee(acc, pay, refunds, gateway):
    # Given 10.00 paid by a card that was charged back (Stripe refuses refunds of it)
    intent_id = pay(acc, 1000)
    gateway.refusing_refunds.add(intent_id)
    request = refunds.create(acc, "Leaving")
    # When the request is approved
    decided = refunds.decide(request.request_id, RefundDecision.APPROVE, None, "admin")
    # Then no fee is withheld for a payment nothing went back to: all of it stays on the balance
    assert (decided.paid_cents, decided.deposit_fee_cents, decided.uncovered_cents) == (0, 0, 1000)
    assert Account.get(acc).balance_cents == 1000 and _books_close(acc)


def test_preview__a_balance_smaller_than_the_payments_fee_pays_nothing_back_and_says_so(acc, pay, refunds):
    # Given 10.00 paid (fee 0.59) of which 0.20 is left
    pay(acc, 1000)
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, -980, LedgerKind.ACTIVATION_CHARGE, f"act_1{acc}")
    # When the user looks at what a refund would pay
    preview = refunds.preview(acc)
    # Then nothing would go back to the card and the 0.20 would stay on the balance
    assert (preview.paid_cents, preview.deposit_fee_cents, preview.uncovered_cents) == (0, 0, 20)
