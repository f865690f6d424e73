"""Money in and back through cards (6.2): top-ups, Stripe's webhook events, what the ledger and payments pages show.

A top-up is credited only by the verified `payment_intent.succeeded` event, never by the charge's
response. Every event may come twice, late or out of order: each ledger entry is keyed by the
Stripe object that caused it (PaymentIntent, refund, dispute), so a repeat is refused by the
wallet's claim and changes nothing. A card refund Stripe later reports failed or canceled gives its
amount back to the balance once (`refund_reversal`), and the user is told by email.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings, get_settings
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.errors import AccountRestricted, AlreadyApplied, Conflict, InvalidInput, PaymentError
from chalicelib.domain.ids import is_identifier, new_id, sha256_hex
from chalicelib.domain.money import format_major
from chalicelib.observability import logger
from chalicelib.providers.mailer import Mailer
from chalicelib.providers.stripe_gateway import (
    CardSummary,
    PaymentIntentResult,
    RefundResult,
    SetupIntentResult,
    StripeEvent,
    WebhookPayloadError,
)
from chalicelib.services.accounts import account_emails
from chalicelib.services.accounts.activity import record_activity
from chalicelib.services.accounts.registration import require_can_spend
from chalicelib.services.money.wallet import Wallet, cause_key
from chalicelib.services.platform import container
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import Claim, LedgerEntry, claim_once, claimed
from chalicelib.store.payments import PaymentRecord, RefundRequest, TopUp


class CardGateway(Protocol):
    """What money needs from Stripe (providers.stripe_gateway.StripeGateway; an in-memory fake in tests)."""

    def ensure_customer(self, account_id: str, email: str, existing_customer_id: str | None) -> str: ...

    def create_setup_intent(self, customer_id: str) -> SetupIntentResult: ...

    def charge_saved_card(self, customer_id: str, payment_method_id: str, amount_cents: int, currency: str,
                          account_id: str, topup_id: str, idempotency_key: str) -> PaymentIntentResult: ...

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentResult: ...

    def refund(self, payment_intent_id: str, amount_cents: int, idempotency_key: str,
               metadata: dict[str, str]) -> RefundResult: ...

    def list_payment_methods(self, customer_id: str) -> list[CardSummary]: ...

    def parse_webhook(self, raw_body: bytes, signature_header: str, now: int) -> StripeEvent: ...


class TopUpStatus(str, enum.Enum):
    CREATED = "created"  # saved, card not charged yet
    REQUIRES_ACTION = "requires_action"  # the page must finish 3-D Secure
    PENDING = "pending"  # charged; waiting for Stripe's signed event to credit it
    CREDITED = "credited"
    FAILED = "failed"


class WebhookOutcome(str, enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # already applied: a repeat delivery
    IGNORED = "ignored"  # not ours or not about money
    REJECTED = "rejected"  # does not match what we asked Stripe for; logged for an operator


_STATUS_AFTER_CHARGE = {"succeeded": TopUpStatus.PENDING, "processing": TopUpStatus.PENDING,
                        "requires_action": TopUpStatus.REQUIRES_ACTION}


@dataclass(frozen=True)
class CardSetup:
    setup_intent_id: str
    client_secret: str
    publishable_key: str
    stripe_js_url: str


@dataclass(frozen=True)
class TopUpStarted:
    topup_id: str
    payment_intent_id: str
    stripe_status: str  # the PaymentIntent's status: the page acts on "requires_action"
    client_secret: str


def require_can_top_up(account: Account) -> None:
    """Who may spend may top up (3.2: not unverified), and so may a restricted account: topping up repays it."""
    try:
        require_can_spend(account)
    except AccountRestricted:
        return


class TopUps:
    """Save a card with a SetupIntent, then charge it; the webhook does the crediting."""

    def __init__(self, gateway: CardGateway, settings: Settings, clock: Clock) -> None:
        self.gateway = gateway
        self.settings = settings
        self.clock = clock

    def start_card_setup(self, account: Account) -> CardSetup:
        require_can_top_up(account)
        intent = self.gateway.create_setup_intent(self._customer_of(account))
        return CardSetup(setup_intent_id=intent.id, client_secret=intent.client_secret,
                         publishable_key=self.settings.stripe_publishable_key,
                         stripe_js_url=self.settings.stripe_js_url)

    def saved_cards(self, account: Account) -> list[CardSummary]:
        if not account.stripe_customer_id:
            return []
        return self.gateway.list_payment_methods(account.stripe_customer_id)

    def start(self, account: Account, amount_cents: int, payment_method_id: str,
              idempotency_key: str | None = None) -> TopUpStarted:
        """Charge a saved card; raises InvalidInput for the amount, PaymentError for the card.

        With an idempotency key, a retry of the same request answers with the first top-up's PaymentIntent
        instead of charging the card again (a client that lost the response must be able to retry).
        """
        require_can_top_up(account)
        self._check_amount(amount_cents)
        if not account.stripe_customer_id:
            account.refresh(consistent_read=True)  # the card setup may have stored it a moment ago
        if not account.stripe_customer_id:
            raise InvalidInput("Add a card before topping up.", code="NO_SAVED_CARD")
        topup_id = _keyed_topup_id(account.account_id, idempotency_key) if idempotency_key else new_id("tu")
        topup = TopUp(topup_id, account_id=account.account_id, amount_cents=amount_cents,
                      currency=self.settings.currency.upper(), status=TopUpStatus.CREATED.value,
                      payment_method_id=payment_method_id, created_at=self.clock.now())
        try:
            topup.save(condition=TopUp.topup_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            return self._replay(topup, account)
        return self._charge(account, topup)

    def _replay(self, requested: TopUp, account: Account) -> TopUpStarted:
        first = TopUp.get(requested.topup_id, consistent_read=True)
        if (int(first.amount_cents), first.payment_method_id) != (requested.amount_cents, requested.payment_method_id):
            raise Conflict("This Idempotency-Key was already used for a different top-up.",
                           code="IDEMPOTENCY_KEY_REUSED")
        if not first.payment_intent_id:
            # The first attempt has not heard back from Stripe: the same Stripe key makes this the same charge.
            return self._charge(account, first)  # the key is the account's own: it is the same account
        intent = self.gateway.retrieve_payment_intent(str(first.payment_intent_id))
        return TopUpStarted(topup_id=first.topup_id, payment_intent_id=intent.id, stripe_status=intent.status,
                            client_secret=intent.client_secret)

    def _charge(self, account: Account, topup: TopUp) -> TopUpStarted:
        amount_cents, payment_method_id = int(topup.amount_cents), str(topup.payment_method_id)
        try:
            intent = self.gateway.charge_saved_card(
                account.stripe_customer_id, payment_method_id, amount_cents, topup.currency,
                account_id=account.account_id, topup_id=topup.topup_id, idempotency_key=f"topup:{topup.topup_id}")
        except PaymentError:
            topup.update(actions=[TopUp.status.set(TopUpStatus.FAILED.value)])
            raise
        _note_intent(topup, intent)
        return TopUpStarted(topup_id=topup.topup_id, payment_intent_id=intent.id, stripe_status=intent.status,
                            client_secret=intent.client_secret)

    def _check_amount(self, amount_cents: int) -> None:
        low, high = self.settings.topup_min_cents, self.settings.topup_max_cents
        if not low <= amount_cents <= high:
            currency = self.settings.currency.upper()
            raise InvalidInput(f"A top-up must be between {format_major(low)} and {format_major(high)} {currency}.",
                               details={"field": "amount_cents", "min": low, "max": high})

    def _customer_of(self, account: Account) -> str:
        if account.stripe_customer_id:
            return str(account.stripe_customer_id)
        created = self.gateway.ensure_customer(account.account_id, account.email, None)
        try:
            # Two setups racing: the first stored customer wins and the other is never used.
            account.update(actions=[Account.stripe_customer_id.set(created)],
                           condition=Account.stripe_customer_id.does_not_exist())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            account.refresh(consistent_read=True)
        return str(account.stripe_customer_id)


def _keyed_topup_id(account_id: str, idempotency_key: str) -> str:
    return "tu_k" + sha256_hex(f"{account_id}:{idempotency_key}")[:28]


def _note_intent(topup: TopUp, intent: PaymentIntentResult) -> None:
    status = _STATUS_AFTER_CHARGE.get(intent.status, TopUpStatus.FAILED)
    try:
        # The webhook may have credited it already (Stripe can be faster than its own response).
        topup.update(actions=[TopUp.payment_intent_id.set(intent.id), TopUp.status.set(status.value)],
                     condition=TopUp.status != TopUpStatus.CREDITED.value)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


# Both paths that see a Stripe refund: our refund-request payout and Stripe's refund events.
_REFUND_KINDS = frozenset({LedgerKind.REFUND_PAYOUT, LedgerKind.CARD_REFUND})


@dataclass(frozen=True)
class CardMovement:
    """Money that went back through a card (refund, dispute) or came back (won dispute)."""

    kind: LedgerKind
    cause_id: str  # the ledger cause: a Stripe refund or dispute id, or "<request_id>:<payment_intent_id>"
    ref_id: str  # what the payments page names: the Stripe refund or dispute id
    amount_cents: int  # signed, as in the ledger
    refunded_cents: int = 0  # added to the top-up's refunded total
    disputed_cents: int = 0  # added to the top-up's disputed total
    refund_request_id: str | None = None

    @property
    def refund_claim(self) -> str | None:
        """The claim on the Stripe refund it moves: a payout and a webhook report the same refund by its id."""
        return refund_claim_key(self.ref_id) if self.kind in _REFUND_KINDS else None


def refund_claim_key(refund_id: str) -> str:
    return f"stripe_refund#{refund_id}"


def payout_cause(request_id: str, payment_intent_id: str) -> str:
    """The ledger cause of a refund request's payout to one card payment (the payout and its webhook share it)."""
    return f"{request_id}:{payment_intent_id}"


def apply_card_movement(wallet: Wallet, topup: TopUp, movement: CardMovement, memo: str) -> bool:
    """Post it with its payment record and the top-up's totals in one transaction; False if already applied.

    A Stripe refund is applied once whichever path sees it first: the payout's cause is its refund
    request and the webhook's the refund id, so a claim on the refund id in the same transaction
    refuses the second. Debits may take the balance below zero: the money has already left through
    the card, so the ledger must say so, and a negative balance restricts the account until it is paid back.
    """
    now = wallet.clock.now()
    record = PaymentRecord(topup.account_id, f"{int(now * 1000):013d}#{movement.kind.value}#{movement.ref_id}")
    record_fields: list[Action] = [
        PaymentRecord.kind.set(movement.kind.value), PaymentRecord.ref_id.set(movement.ref_id),
        PaymentRecord.amount_cents.set(movement.amount_cents), PaymentRecord.currency.set(topup.currency),
        PaymentRecord.created_at.set(now)]
    if topup.payment_intent_id:
        record_fields.append(PaymentRecord.payment_intent_id.set(topup.payment_intent_id))
    if movement.refund_request_id:
        record_fields.append(PaymentRecord.refund_request_id.set(movement.refund_request_id))
    totals: list[Action] = [TopUp.refunded_cents.add(movement.refunded_cents),
                            TopUp.disputed_cents.add(movement.disputed_cents)]
    refund_claim = movement.refund_claim

    def with_record(tx: TransactWrite) -> None:
        tx.update(record, actions=record_fields)
        tx.update(topup, actions=totals)
        if refund_claim:
            tx.save(Claim(refund_claim, value=cause_key(movement.kind, movement.cause_id), created_at=now),
                    condition=Claim.key.does_not_exist())

    if claimed(cause_key(movement.kind, movement.cause_id)) or (refund_claim and claimed(refund_claim)):
        return False
    try:
        wallet.post(topup.account_id, movement.amount_cents, movement.kind, movement.cause_id, memo=memo,
                    allow_negative=movement.amount_cents < 0, extra=with_record)
    except AlreadyApplied:
        return False
    except TransactWriteError:
        if refund_claim and claimed(refund_claim):
            return False  # the other path applied this refund between our read and our write
        raise
    return True


def already_applied(kind: LedgerKind, cause_id: str) -> bool:
    """Whether the ledger holds this cause: a cheap read that spares repeats a transaction bound to fail."""
    return claimed(cause_key(kind, cause_id))


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

    def __init__(self, gateway: CardGateway, wallet: Wallet, mailer: Mailer | None = None) -> None:
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
        intent_id = _text(intent, "id")
        topup = _topup_of(intent_id, intent.get("metadata"))
        if topup is None:
            return WebhookOutcome.IGNORED
        problem = _credit_mismatch(topup, intent)
        if problem:
            logger.error("stripe payment does not match its top-up", extra={
                "topup_id": topup.topup_id, "payment_intent_id": intent_id, "mismatch": problem})
            return WebhookOutcome.REJECTED
        if already_applied(LedgerKind.TOP_UP, intent_id):
            return WebhookOutcome.DUPLICATE
        now = self.wallet.clock.now()

        def mark_credited(tx: TransactWrite) -> None:
            tx.update(topup, actions=[TopUp.status.set(TopUpStatus.CREDITED.value),
                                      TopUp.payment_intent_id.set(intent_id), TopUp.credited_at.set(now)])

        try:
            self.wallet.post(topup.account_id, int(topup.amount_cents), LedgerKind.TOP_UP, intent_id,
                             memo=f"card top-up {topup.topup_id}", extra=mark_credited)
        except AlreadyApplied:
            return WebhookOutcome.DUPLICATE
        return WebhookOutcome.APPLIED

    def _mark_failed(self, intent: dict[str, Any]) -> WebhookOutcome:
        topup = _topup_of(_text(intent, "id"), intent.get("metadata"))
        if topup is None:
            return WebhookOutcome.IGNORED
        try:
            topup.update(actions=[TopUp.status.set(TopUpStatus.FAILED.value)],
                         condition=TopUp.status != TopUpStatus.CREDITED.value)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
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
        topup = self._paid_topup_of(refund)
        if topup is None:
            return WebhookOutcome.IGNORED
        amount, refund_id = _cents(refund, "amount"), _text(refund, "id")
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
        topup = self._paid_topup_of(refund)
        if topup is None:
            return WebhookOutcome.IGNORED
        refund_id = _text(refund, "id")
        if already_applied(LedgerKind.REFUND_REVERSAL, refund_id):
            return WebhookOutcome.DUPLICATE
        debit = _debit_of_failed_refund(refund_id, self.wallet.clock.now())
        if debit is None:
            logger.warning("stripe refund failed before it was taken from a balance; it never will be", extra={
                "refund_id": refund_id, "topup_id": topup.topup_id})
            return WebhookOutcome.IGNORED
        if debit.account_id != topup.account_id:
            logger.error("failed stripe refund was taken from another account than its top-up's", extra={
                "refund_id": refund_id, "topup_id": topup.topup_id, "ledger_account_id": debit.account_id})
            return WebhookOutcome.REJECTED
        amount = -int(debit.amount_cents)
        request_id = debit.cause_id.partition(":")[0] if debit.kind == LedgerKind.REFUND_PAYOUT.value else None
        movement = CardMovement(LedgerKind.REFUND_REVERSAL, cause_id=refund_id, ref_id=refund_id,
                                amount_cents=amount, refunded_cents=-amount, refund_request_id=request_id)
        if not apply_card_movement(self.wallet, topup, movement, memo=f"card refund {refund_id} failed"):
            return WebhookOutcome.DUPLICATE
        self._tell_refund_failed(topup, refund_id, amount)
        return WebhookOutcome.APPLIED

    def _tell_refund_failed(self, topup: TopUp, refund_id: str, amount_cents: int) -> None:
        record_activity(topup.account_id, REFUND_FAILED_ACTIVITY, None,
                        {"refund_id": refund_id, "amount_cents": amount_cents}, clock=self.wallet.clock)
        account = Account.get(topup.account_id, consistent_read=True)
        if account.status == AccountStatus.DEACTIVATED.value:
            # Its email address went with the consent; the money waits on the balance for an operator.
            logger.warning("failed card refund credited back to a deactivated account", extra={
                "account_id": account.account_id, "refund_id": refund_id, "amount_cents": amount_cents})
            return
        mailer = self._mailer or container.mailer()
        account_emails.deliver(mailer, account.email, refund_failed_email(amount_cents, topup.currency, refund_id))

    def _withdraw_for_dispute(self, dispute: dict[str, Any]) -> WebhookOutcome:
        topup = self._paid_topup_of(dispute)
        if topup is None:
            return WebhookOutcome.IGNORED
        return _outcome(self._take_disputed_funds(topup, dispute))

    def _reinstate_dispute(self, dispute: dict[str, Any]) -> WebhookOutcome:
        topup = self._paid_topup_of(dispute)
        if topup is None:
            return WebhookOutcome.IGNORED
        # Funds are reinstated only after they were withdrawn: take them first if that event is late or lost.
        self._take_disputed_funds(topup, dispute)
        amount, dispute_id = _cents(dispute, "amount"), _text(dispute, "id")
        movement = CardMovement(LedgerKind.DISPUTE_REVERSAL, cause_id=dispute_id, ref_id=dispute_id,
                                amount_cents=amount, disputed_cents=-amount)
        return _outcome(apply_card_movement(self.wallet, topup, movement, memo=f"dispute won {dispute_id}"))

    def _take_disputed_funds(self, topup: TopUp, dispute: dict[str, Any]) -> bool:
        # created and funds_withdrawn share the dispute id as cause, so the money is taken once.
        amount, dispute_id = _cents(dispute, "amount"), _text(dispute, "id")
        movement = CardMovement(LedgerKind.DISPUTE, cause_id=dispute_id, ref_id=dispute_id, amount_cents=-amount,
                                disputed_cents=amount)
        return apply_card_movement(self.wallet, topup, movement, memo=f"card dispute {dispute_id}")

    def _paid_topup_of(self, money: dict[str, Any]) -> TopUp | None:
        topup = _topup_of(money.get("payment_intent"), money.get("metadata"))
        if topup is None:
            return None
        if str(money.get("currency", "")).lower() != topup.currency.lower():
            logger.error("stripe refund or dispute in another currency", extra={
                "topup_id": topup.topup_id, "stripe_object_id": money.get("id"), "currency": money.get("currency")})
            return None
        return topup


_FAILED_REFUND_STATUSES = frozenset({"failed", "canceled"})
_STRIPE_ID_MAX = 255  # Stripe's ids are far shorter; a longer one is not Stripe's and cannot be a DynamoDB key
_CENTS_MAX = 10**12  # no payment is ten billion; DynamoDB keeps 38 digits
# The activity log's kind for a failed card refund credited back (other areas' kinds: services.activity).
REFUND_FAILED_ACTIVITY = "card_refund_failed"
# The value of a refund's claim when it failed before any path took it from a balance.
_NEVER_TAKEN = "failed before it was taken"


def _debit_of_failed_refund(refund_id: str, now: float) -> LedgerEntry | None:
    """The ledger entry that took a failed Stripe refund from a balance; None if none did, and then none ever will.

    Both paths that take a refund (payout, refund event) write its claim with their entry. Claiming it
    here first therefore bars a `refund.created` or payout arriving after the failure from taking money
    that never left; if a path claimed it first, the claim names its entry's ledger cause.
    """
    key = refund_claim_key(refund_id)
    if claim_once(key, now, _NEVER_TAKEN):
        return None
    taken_by = str(Claim.get(key, consistent_read=True).value)
    if taken_by == _NEVER_TAKEN:
        return None
    # The wallet's claim on a ledger cause holds "<account_id>:<seq>" of the entry it wrote.
    account_id, _, seq = str(Claim.get(taken_by, consistent_read=True).value).rpartition(":")
    return LedgerEntry.get(account_id, int(seq), consistent_read=True)


def failed_before_taken(refund_id: str) -> bool:
    """Whether Stripe's failure of this refund was seen before any path took it from a balance (so none will)."""
    try:
        return str(Claim.get(refund_claim_key(refund_id), consistent_read=True).value) == _NEVER_TAKEN
    except Claim.DoesNotExist:
        return False


def refund_failed_email(amount_cents: int, currency: str, refund_id: str) -> account_emails.Email:
    """What the user reads when a card refund failed and its amount came back to the balance."""
    amount = f"{format_major(amount_cents)} {currency}"
    body = f"""We sent {amount} back to your card, but the card refund failed: the
card's bank did not take it (the card may be closed or expired).

The {amount} is back on your SMS Rooms balance. You can spend it, or
ask for a refund again from the Refund page; it goes to the cards you
topped up with.

Stripe refund reference: {refund_id}
{account_emails.SIGNATURE}"""
    return account_emails.Email("Your SMS Rooms refund did not reach your card", body)


def _topup_of(payment_intent_id: object, metadata: object) -> TopUp | None:
    """Our top-up behind a Stripe object: by the topup_id we put in the metadata, else by its PaymentIntent."""
    topup_id = metadata.get("topup_id") if isinstance(metadata, dict) else None
    topup: TopUp | None = None
    if isinstance(topup_id, str) and topup_id:
        try:
            topup = TopUp.get(topup_id, consistent_read=True) if is_identifier(topup_id) else None
        except TopUp.DoesNotExist:
            topup = None
    elif isinstance(payment_intent_id, str) and is_identifier(payment_intent_id, _STRIPE_ID_MAX):
        topup = next(iter(TopUp.by_payment_intent.query(payment_intent_id, limit=1)), None)
    if topup is None:
        logger.warning("stripe object for no top-up of ours", extra={"payment_intent_id": payment_intent_id})
    return topup


def _credit_mismatch(topup: TopUp, intent: dict[str, Any]) -> str | None:
    """What in a succeeded PaymentIntent differs from the top-up we charged, if anything."""
    metadata = intent.get("metadata") or {}
    amount = _cents(intent, "amount")
    checks = [
        ("status", intent.get("status") != "succeeded"),
        ("payment_intent", topup.payment_intent_id not in (None, intent.get("id"))),
        ("account", metadata.get("account_id") not in (None, topup.account_id)),
        ("amount", amount != topup.amount_cents),
        ("amount_received", intent.get("amount_received") not in (None, amount)),
        ("currency", str(intent.get("currency", "")).lower() != topup.currency.lower()),
    ]
    return next((name for name, differs in checks if differs), None)


def _text(obj: dict[str, Any], name: str) -> str:
    """A Stripe id field of the event's object."""
    value = obj.get(name)
    if not isinstance(value, str) or not is_identifier(value, _STRIPE_ID_MAX):
        raise WebhookPayloadError(f"Stripe object without a valid '{name}'")
    return value


def _cents(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _CENTS_MAX:
        raise WebhookPayloadError(f"Stripe object with a bad '{name}'")
    return value


def _outcome(applied: bool) -> WebhookOutcome:
    return WebhookOutcome.APPLIED if applied else WebhookOutcome.DUPLICATE


def _combined(outcomes: list[WebhookOutcome]) -> WebhookOutcome:
    for wanted in (WebhookOutcome.APPLIED, WebhookOutcome.DUPLICATE):
        if wanted in outcomes:
            return wanted
    return WebhookOutcome.IGNORED


def ledger_entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """A ledger entry as users (GET /v1/ledger) and operators (bin/admin show) see it."""
    return {"entry_id": entry.entry_id, "seq": int(entry.seq), "amount_cents": int(entry.amount_cents),
            "balance_after_cents": int(entry.balance_after_cents), "kind": entry.kind, "cause_id": entry.cause_id,
            "memo": entry.memo, "created_at": iso(entry.created_at)}


@dataclass(frozen=True)
class PaymentHistory:
    top_ups: list[TopUp]
    records: list[PaymentRecord]  # card refunds, refund payouts, disputes
    refund_requests: list[RefundRequest]


def payment_history(account_id: str, limit: int = 100) -> PaymentHistory:
    """The account's recent money through cards, each list newest first."""
    return PaymentHistory(
        top_ups=list(TopUp.by_account.query(account_id, scan_index_forward=False, limit=limit)),
        records=list(PaymentRecord.query(account_id, scan_index_forward=False, limit=limit)),
        refund_requests=list(RefundRequest.by_account.query(account_id, scan_index_forward=False, limit=limit)),
    )


def top_ups() -> TopUps:
    """TopUps with the process's collaborators."""
    return TopUps(container.stripe_gateway(), get_settings(), container.clock())


def stripe_events() -> StripeEvents:
    """StripeEvents with the process's collaborators."""
    return StripeEvents(container.stripe_gateway(), Wallet(container.clock()), container.mailer())
