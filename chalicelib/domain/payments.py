"""Money through cards as plain values: a top-up (one card charge), a refund request (6.3) and a payment record (a
refund or dispute on a card payment), with their statuses. The store (store/payment_repo.py) reads and writes
them; the field names are the tables' attribute names."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class TopUpStatus(enum.StrEnum):
    CREATED = "created"  # saved, card not charged yet
    REQUIRES_ACTION = "requires_action"  # the page must finish 3-D Secure
    PENDING = "pending"  # charged; waiting for Stripe's signed event to credit it
    CREDITED = "credited"
    FAILED = "failed"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVING = "approving"  # approved; the card refunds are being made
    APPROVED = "approved"
    DECLINED = "declined"


@dataclass(frozen=True)
class TopUp:
    """One card charge; the PaymentIntent's metadata carries topup_id and account_id back to us."""

    topup_id: str
    account_id: str
    amount_cents: int
    currency: str  # ISO 4217, upper case
    status: TopUpStatus
    created_at: float
    payment_method_id: str | None = None
    payment_intent_id: str | None = None  # set once Stripe answered, or by the webhook
    refunded_cents: int = 0  # sent back to the card: refund payouts and refunds made in Stripe
    disputed_cents: int = 0  # withdrawn by open or lost disputes
    fee_cents: int | None = None  # Stripe's processing fee for it, once read
    fee_withheld_cents: int = 0  # that fee, kept by a refund of this payment (6.3): never refunded
    credited_at: float | None = None

    @property
    def refundable_cents(self) -> int:
        return self.amount_cents - self.refunded_cents - self.disputed_cents - self.fee_withheld_cents


@dataclass(frozen=True)
class RefundRequest:
    """A written request to withdraw the remaining balance; the amount stays held until an admin decides."""

    request_id: str
    account_id: str
    amount_cents: int  # held while pending
    reason: str
    status: RefundStatus
    created_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    decision_note: str | None = None
    payout_plan: str | None = None  # JSON [{topup_id, payment_intent_id, amount_cents, …}], fixed at approval
    paid_cents: int = 0  # sent back to cards
    fee_cents: int = 0  # the withdrawal fee (REFUND_FEE_CENTS)
    deposit_fee_cents: int = 0  # the refunded payments' processing fees, kept (6.3)
    uncovered_cents: int = 0  # approved but not payable to a card: left on the balance
    refused_payment_intents: frozenset[str] = frozenset()  # card payments Stripe would not refund
    hold_released_at: float | None = None


@dataclass(frozen=True)
class PayoutFigures:
    """What an approval fixes on a refund request: its payout plan (JSON) and the plan's sums."""

    payout_plan: str
    paid_cents: int
    fee_cents: int
    deposit_fee_cents: int
    uncovered_cents: int


@dataclass(frozen=True)
class PaymentRecord:
    """A refund or dispute on a card payment, written in the same transaction as its ledger entry."""

    account_id: str
    record_key: str  # "<created ms, 13 digits>#<ledger kind>#<ref_id>"
    kind: str  # domain.accounts.LedgerKind value of its ledger entry
    ref_id: str  # Stripe refund or dispute id, or "<request_id>:fee"
    amount_cents: int  # signed, as in the ledger
    currency: str
    created_at: float
    payment_intent_id: str | None = None
    refund_request_id: str | None = None
