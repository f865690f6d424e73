"""Stripe's webhook events (6.2) turned into ledger entries: the one table of the events we act on, and each handler.

Every event may come twice, late or out of order: each ledger entry is keyed by the Stripe object that
caused it (PaymentIntent, refund, dispute), so a repeat is refused by the wallet's claim and changes
nothing. A card refund Stripe reports failed or canceled gives its amount back once, and the user is emailed.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.errors import AlreadyApplied, NotFound
from chalicelib.domain.ids import is_identifier
from chalicelib.domain.payments import TopUp, TopUpStatus
from chalicelib.observability import logger
from chalicelib.providers.mailer import Mailer
from chalicelib.providers.stripe_gateway import StripeEvent, WebhookPayloadError
from chalicelib.services.accounts import account_emails
from chalicelib.services.accounts.activity import record_activity
from chalicelib.services.money.card_movements import (
    CardMovement,
    already_applied,
    apply_card_movement,
    debit_of_failed_refund,
    payout_cause,
    refund_failed_email,
)
from chalicelib.services.money.stripe_objects import credit_mismatch, paid_topup_of, stripe_cents, stripe_id, topup_of
from chalicelib.services.money.top_ups import CardGateway
from chalicelib.services.money.wallet import Wallet
from chalicelib.store import account_repo, payment_repo

_FAILED_REFUND_STATUSES = frozenset({"failed", "canceled"})
# The activity log's kind for a failed card refund credited back (other areas' kinds: services.activity).
REFUND_FAILED_ACTIVITY = "card_refund_failed"


class WebhookOutcome(str, enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # already applied: a repeat delivery
    IGNORED = "ignored"  # not ours or not about money
    REJECTED = "rejected"  # does not match what we asked Stripe for; logged for an operator


# The Stripe events we act on, each with the StripeEvents method that does: the one table. The webhook dispatches
# by it, and `bin/admin stripe-webhook` registers the endpoint for exactly these types.
STRIPE_EVENT_HANDLERS = {
    "payment_intent.succeeded": "_credit_top_up",
    "payment_intent.payment_failed": "_mark_failed",
    "charge.refunded": "_record_charge_refunds",
    # Newer API versions leave `refunds` out of the charge; these carry the refund itself.
    "refund.created": "_record_refund_change",
    "refund.updated": "_record_refund_change",
    "charge.refund.updated": "_record_refund_change",
    "refund.failed": "_record_refund_change",
    "charge.dispute.created": "_withdraw_for_dispute",
    "charge.dispute.funds_withdrawn": "_withdraw_for_dispute",
    "charge.dispute.funds_reinstated": "_reinstate_dispute",
}


class StripeEvents:
    """Turns verified Stripe events into ledger entries; unknown types are acknowledged and ignored."""

    def __init__(self, gateway: CardGateway, wallet: Wallet, mailer: Mailer) -> None:
        self.gateway = gateway
        self.wallet = wallet
        self._mailer = mailer
        self._handlers: dict[str, Callable[[dict[str, Any]], WebhookOutcome]] = {
            kind: getattr(self, method) for kind, method in STRIPE_EVENT_HANDLERS.items()}

    def receive(self, raw_body: bytes, signature_header: str) -> WebhookOutcome:
        """Verify and apply one delivery; raises WebhookRejected (answer 400) before anything is written."""
        event = self.gateway.parse_webhook(raw_body, signature_header, now=int(self.wallet.clock.now()))
        return self.apply(event)

    def apply(self, event: StripeEvent) -> WebhookOutcome:
        handler = self._handlers.get(event.type)
        try:
            outcome = handler(event.data_object) if handler else WebhookOutcome.IGNORED
        except (AttributeError, TypeError) as error:
            # A signed object not shaped as Stripe documents it (a list where an object goes, a number for a
            # string): a refused payload (400, logged as a warning, retried by Stripe), not a 500.
            raise WebhookPayloadError(f"{event.type} object is not shaped as Stripe sends it: {error}") from None
        logger.info("stripe event", extra={"stripe_event_id": event.id, "stripe_event_type": event.type,
                                           "outcome": outcome.value})
        return outcome

    def _credit_top_up(self, intent: dict[str, Any]) -> WebhookOutcome:
        intent_id = stripe_id(intent, "id")
        topup = topup_of(intent_id, intent.get("metadata"))
        if topup is None:
            return WebhookOutcome.IGNORED
        problem = credit_mismatch(topup, intent)
        if problem:
            logger.error("stripe payment does not match its top-up", extra={
                "topup_id": topup.topup_id, "payment_intent_id": intent_id, "mismatch": problem})
            return WebhookOutcome.REJECTED
        if already_applied(LedgerKind.TOP_UP, intent_id):
            return WebhookOutcome.DUPLICATE
        mark_credited = payment_repo.crediting(topup.topup_id, intent_id, self.wallet.clock.now())
        try:
            self.wallet.post(topup.account_id, topup.amount_cents, LedgerKind.TOP_UP, intent_id,
                             memo=f"card top-up {topup.topup_id}", extra=mark_credited)
        except AlreadyApplied:
            return WebhookOutcome.DUPLICATE
        return WebhookOutcome.APPLIED

    def _mark_failed(self, intent: dict[str, Any]) -> WebhookOutcome:
        topup = topup_of(stripe_id(intent, "id"), intent.get("metadata"))
        if topup is None:
            return WebhookOutcome.IGNORED
        if not payment_repo.set_topup_status(topup.topup_id, TopUpStatus.FAILED, unless_credited=True):
            return WebhookOutcome.DUPLICATE
        return WebhookOutcome.APPLIED

    def _record_charge_refunds(self, charge: dict[str, Any]) -> WebhookOutcome:
        # amount_refunded is cumulative over every refund; the refunds list gives each one its own id.
        refunds = (charge.get("refunds") or {}).get("data")
        if not isinstance(refunds, list):
            logger.warning("charge.refunded without its refunds list", extra={"charge_id": charge.get("id")})
            return WebhookOutcome.IGNORED
        return _combined([self._record_refund_change(
            {**refund, "payment_intent": refund.get("payment_intent") or charge.get("payment_intent")})
                          for refund in refunds])

    def _record_refund_change(self, refund: dict[str, Any]) -> WebhookOutcome:
        # By the refund's own status, not the event type: a late or repeated snapshot says what it was then.
        status = refund.get("status")
        if status == "succeeded":
            return self._record_refund(refund)
        if status in _FAILED_REFUND_STATUSES:
            return self._reverse_failed_refund(refund)
        return WebhookOutcome.IGNORED

    def _record_refund(self, refund: dict[str, Any]) -> WebhookOutcome:
        topup = paid_topup_of(refund)
        if topup is None:
            return WebhookOutcome.IGNORED
        amount, refund_id = stripe_cents(refund, "amount"), stripe_id(refund, "id")
        metadata = refund.get("metadata")
        request_id = metadata.get("refund_request_id") if isinstance(metadata, dict) else None
        if isinstance(request_id, str) and is_identifier(request_id) and topup.payment_intent_id:
            # One of our refund-request payouts: written exactly as the payout writes it, so whichever comes
            # first records it and a crash between Stripe's answer and the payout's write heals here.
            cause = payout_cause(request_id, topup.payment_intent_id)
            movement = CardMovement(LedgerKind.REFUND_PAYOUT, cause_id=cause, ref_id=refund_id, amount_cents=-amount,
                                    refunded_cents=amount, refund_request_id=request_id)
            memo = f"refund {refund_id} for request {request_id}"
        else:
            movement = CardMovement(LedgerKind.CARD_REFUND, cause_id=refund_id, ref_id=refund_id,
                                    amount_cents=-amount, refunded_cents=amount)
            memo = f"card refund {refund_id}"
        return _outcome(apply_card_movement(self.wallet, topup, movement, memo=memo))

    def _reverse_failed_refund(self, refund: dict[str, Any]) -> WebhookOutcome:
        """Give back what a failed card refund took from the balance, whichever path took it; once."""
        topup = paid_topup_of(refund)
        if topup is None:
            return WebhookOutcome.IGNORED
        refund_id = stripe_id(refund, "id")
        if already_applied(LedgerKind.REFUND_REVERSAL, refund_id):
            return WebhookOutcome.DUPLICATE
        debit = debit_of_failed_refund(refund_id, self.wallet.clock.now())
        if debit is None:
            logger.warning("stripe refund failed before it was taken from a balance; it never will be", extra={
                "refund_id": refund_id, "topup_id": topup.topup_id})
            return WebhookOutcome.IGNORED
        if debit.account_id != topup.account_id:
            logger.error("failed stripe refund was taken from another account than its top-up's", extra={
                "refund_id": refund_id, "topup_id": topup.topup_id, "ledger_account_id": debit.account_id})
            return WebhookOutcome.REJECTED
        amount = -debit.amount_cents
        request_id = debit.cause_id.partition(":")[0] if debit.kind is LedgerKind.REFUND_PAYOUT else None
        movement = CardMovement(LedgerKind.REFUND_REVERSAL, cause_id=refund_id, ref_id=refund_id,
                                amount_cents=amount, refunded_cents=-amount, refund_request_id=request_id)
        if not apply_card_movement(self.wallet, topup, movement, memo=f"card refund {refund_id} failed"):
            return WebhookOutcome.DUPLICATE
        self._tell_refund_failed(topup, refund_id, amount)
        return WebhookOutcome.APPLIED

    def _tell_refund_failed(self, topup: TopUp, refund_id: str, amount_cents: int) -> None:
        record_activity(topup.account_id, REFUND_FAILED_ACTIVITY, None,
                        {"refund_id": refund_id, "amount_cents": amount_cents}, clock=self.wallet.clock)
        account = account_repo.read(topup.account_id)
        if account is None:
            raise NotFound("Account not found.")
        if account.status == AccountStatus.DEACTIVATED:
            # Its email address went with the consent; the money waits on the balance for an operator.
            logger.warning("failed card refund credited back to a deactivated account", extra={
                "account_id": account.account_id, "refund_id": refund_id, "amount_cents": amount_cents})
            return
        email = refund_failed_email(amount_cents, topup.currency, refund_id)
        account_emails.deliver(self._mailer, account.email, email)

    def _withdraw_for_dispute(self, dispute: dict[str, Any]) -> WebhookOutcome:
        topup = paid_topup_of(dispute)
        if topup is None:
            return WebhookOutcome.IGNORED
        return _outcome(self._take_disputed_funds(topup, dispute))

    def _reinstate_dispute(self, dispute: dict[str, Any]) -> WebhookOutcome:
        topup = paid_topup_of(dispute)
        if topup is None:
            return WebhookOutcome.IGNORED
        # Funds are reinstated only after they were withdrawn: take them first if that event is late or lost.
        self._take_disputed_funds(topup, dispute)
        amount, dispute_id = stripe_cents(dispute, "amount"), stripe_id(dispute, "id")
        movement = CardMovement(LedgerKind.DISPUTE_REVERSAL, cause_id=dispute_id, ref_id=dispute_id,
                                amount_cents=amount, disputed_cents=-amount)
        return _outcome(apply_card_movement(self.wallet, topup, movement, memo=f"dispute won {dispute_id}"))

    def _take_disputed_funds(self, topup: TopUp, dispute: dict[str, Any]) -> bool:
        # created and funds_withdrawn share the dispute id as cause, so the money is taken once.
        amount, dispute_id = stripe_cents(dispute, "amount"), stripe_id(dispute, "id")
        movement = CardMovement(LedgerKind.DISPUTE, cause_id=dispute_id, ref_id=dispute_id, amount_cents=-amount,
                                disputed_cents=amount)
        return apply_card_movement(self.wallet, topup, movement, memo=f"card dispute {dispute_id}")

def _outcome(applied: bool) -> WebhookOutcome:
    return WebhookOutcome.APPLIED if applied else WebhookOutcome.DUPLICATE


def _combined(outcomes: list[WebhookOutcome]) -> WebhookOutcome:
    for wanted in (WebhookOutcome.APPLIED, WebhookOutcome.DUPLICATE):
        if wanted in outcomes:
            return wanted
    return WebhookOutcome.IGNORED
