"""What a refund of the balance pays back to which card (6.3): newest payment first, each payment's processing fee
kept (deposit fees are not refunded) and the withdrawal fee, so the user sees the amounts before asking.

A payment's fee is what Stripe's balance transaction for it says; when Stripe does not say, the configured estimate
(percentage + fixed part). A fee once known from Stripe is kept on the top-up; a payment's fee is withheld once,
however many refunds draw on it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from chalicelib.domain.errors import PaymentError
from chalicelib.domain.payments import TopUp, TopUpStatus
from chalicelib.observability import logger
from chalicelib.services.money.top_ups import CardGateway
from chalicelib.store import payment_repo

STRIPE, ESTIMATE = "stripe", "estimate"  # where a payment's fee comes from


@dataclass(frozen=True)
class PayoutPart:
    topup_id: str
    payment_intent_id: str
    amount_cents: int  # back to the card
    fee_cents: int = 0  # the payment's processing fee, kept (plans fixed before fees were kept have none)
    fee_source: str = ESTIMATE


@dataclass(frozen=True)
class PayoutPlan:
    parts: list[PayoutPart]
    fee_cents: int  # the withdrawal fee (REFUND_FEE_CENTS)
    uncovered_cents: int  # stays on the balance: what no card can take back

    @property
    def paid_cents(self) -> int:
        return sum(part.amount_cents for part in self.parts)

    @property
    def deposit_fee_cents(self) -> int:
        return sum(part.fee_cents for part in self.parts)

    def as_json(self) -> dict[str, object]:
        return {"refund_cents": self.paid_cents, "deposit_fees_cents": self.deposit_fee_cents,
                "withdrawal_fee_cents": self.fee_cents, "kept_on_balance_cents": self.uncovered_cents,
                "parts": [asdict(part) for part in self.parts]}


@dataclass(frozen=True)
class FeeEstimate:
    basis_points: int  # 290: 2.9 %
    fixed_cents: int

    def of(self, amount_cents: int) -> int:
        return (amount_cents * self.basis_points + 5_000) // 10_000 + self.fixed_cents  # half up, whole cents


class DepositFees:
    def __init__(self, gateway: CardGateway, estimate: FeeEstimate) -> None:
        self.gateway = gateway
        self.estimate = estimate

    def of(self, topup: TopUp) -> tuple[int, str]:
        """The payment's processing fee and where it comes from; Stripe's figure is kept on the top-up."""
        if topup.fee_cents is not None:
            return topup.fee_cents, STRIPE
        try:
            reported = self.gateway.payment_fee(str(topup.payment_intent_id), topup.currency)
        except PaymentError:
            logger.warning("stripe did not say a payment's fee; estimated", extra={"topup_id": topup.topup_id})
            reported = None
        if reported is None:
            return self.estimate.of(topup.amount_cents), ESTIMATE
        payment_repo.note_fee(topup.topup_id, reported)
        return reported, STRIPE

    def plan(self, account_id: str, requested_cents: int, payable_cents: int, withdrawal_fee_cents: int) -> PayoutPlan:
        """Pay `payable_cents` of the `requested_cents` back to the account's card payments, newest first: from each,
        what is left of it less its fee not yet withheld; a payment whose fee would take all of it is left alone."""
        fee = min(withdrawal_fee_cents, payable_cents)
        wanted = payable_cents - fee
        parts: list[PayoutPart] = []
        for topup in payment_repo.topups_of_account(account_id):
            if wanted <= 0:
                break
            if topup.status is not TopUpStatus.CREDITED or not topup.payment_intent_id or topup.refundable_cents <= 0:
                continue
            payment_fee, source = self.of(topup)
            owed_fee = max(payment_fee - topup.fee_withheld_cents, 0)
            take = min(topup.refundable_cents, wanted)
            if take <= owed_fee:
                continue
            parts.append(PayoutPart(topup.topup_id, topup.payment_intent_id, take - owed_fee, owed_fee, source))
            wanted -= take
        paid = sum(part.amount_cents + part.fee_cents for part in parts)
        fee = fee if parts else 0  # no withdrawal fee when nothing goes back to a card
        return PayoutPlan(parts=parts, fee_cents=fee, uncovered_cents=requested_cents - paid - fee)
