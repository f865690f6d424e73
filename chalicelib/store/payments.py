"""Card top-ups, refund requests (6.3), and the refunds and disputes on card payments that the payments page lists."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.base import table


class TopUpsByAccount(GlobalSecondaryIndex["TopUp"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class TopUpsByPaymentIntent(GlobalSecondaryIndex["TopUp"]):
    """Refund and dispute events name the PaymentIntent, not our top-up."""

    class Meta:
        index_name = "by_payment_intent"
        projection = AllProjection()

    payment_intent_id = UnicodeAttribute(hash_key=True)


@table("topups")
class TopUp(Model):
    """One card charge; the PaymentIntent's metadata carries topup_id and account_id back to us."""

    class Meta:
        table_name = "topups"

    topup_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()  # ISO 4217, upper case
    status = UnicodeAttribute()  # services.money.top_ups.TopUpStatus value
    payment_method_id = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)  # set once Stripe answered, or by the webhook
    refunded_cents = NumberAttribute(default=0)  # sent back to the card: refund payouts and refunds made in Stripe
    disputed_cents = NumberAttribute(default=0)  # withdrawn by open or lost disputes
    fee_cents = NumberAttribute(null=True)  # Stripe's processing fee for it, once read (services/money/refund_plan.py)
    fee_withheld_cents = NumberAttribute(default=0)  # that fee, kept by a refund of this payment (6.3): never refunded
    created_at = NumberAttribute()
    credited_at = NumberAttribute(null=True)
    by_account = TopUpsByAccount()
    by_payment_intent = TopUpsByPaymentIntent()

    @property
    def refundable_cents(self) -> int:
        return (int(self.amount_cents) - int(self.refunded_cents) - int(self.disputed_cents)
                - int(self.fee_withheld_cents or 0))


class RefundRequestsByStatus(GlobalSecondaryIndex["RefundRequest"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class RefundRequestsByAccount(GlobalSecondaryIndex["RefundRequest"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


@table("refund_requests")
class RefundRequest(Model):
    """A written request to withdraw the remaining balance; the amount stays held until an admin decides."""

    class Meta:
        table_name = "refund_requests"

    request_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    amount_cents = NumberAttribute()  # held while pending
    reason = UnicodeAttribute()
    status = UnicodeAttribute()  # services.money.refund_requests.RefundStatus value
    created_at = NumberAttribute()
    decided_at = NumberAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    decision_note = UnicodeAttribute(null=True)
    payout_plan = UnicodeAttribute(null=True)  # JSON [{topup_id, payment_intent_id, amount_cents}], fixed at approval
    paid_cents = NumberAttribute(default=0)  # sent back to cards
    fee_cents = NumberAttribute(default=0)  # the withdrawal fee (REFUND_FEE_CENTS)
    deposit_fee_cents = NumberAttribute(default=0)  # the refunded payments' processing fees, kept (6.3)
    uncovered_cents = NumberAttribute(default=0)  # approved but not payable to a card: left on the balance
    refused_payment_intents = UnicodeSetAttribute(null=True)  # card payments Stripe would not refund
    hold_released_at = NumberAttribute(null=True)
    by_status = RefundRequestsByStatus()
    by_account = RefundRequestsByAccount()


@table("payment_records")
class PaymentRecord(Model):
    """A refund or dispute on a card payment, written in the same transaction as its ledger entry."""

    class Meta:
        table_name = "payment_records"

    account_id = UnicodeAttribute(hash_key=True)
    record_key = UnicodeAttribute(range_key=True)  # "<created ms, 13 digits>#<ledger kind>#<ref_id>"
    kind = UnicodeAttribute()  # domain.accounts.LedgerKind value of its ledger entry
    ref_id = UnicodeAttribute()  # Stripe refund or dispute id, or "<request_id>:fee"
    amount_cents = NumberAttribute()  # signed, as in the ledger
    currency = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute(null=True)
    refund_request_id = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
