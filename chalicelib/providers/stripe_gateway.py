"""Stripe behind a thin gateway: customers, saved cards, charges, refunds, webhook verification, and the listings
reconciliation reads. The only module that talks to Stripe."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import PaymentError, PaymentUnavailable, RefundRefused
from chalicelib.observability import logger

if TYPE_CHECKING:
    from stripe import StripeClient, StripeError
    from stripe.params import PaymentIntentCreateParams

WEBHOOK_TOLERANCE_SECONDS = 300
# API Gateway gives up after 29 s, so one retry of a 10 s call must still fit.
_TIMEOUT_SECONDS = 10
_NETWORK_RETRIES = 1

_CARD_MESSAGES = {
    "card_declined": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "processing_error": "The card could not be processed. Try again.",
    "authentication_required": "Your bank asks you to confirm this payment. Try again and complete the check.",
}
_UNAVAILABLE = "The payment service is unavailable right now. Try again in a minute."
_NOT_PROCESSED = "The payment could not be processed."
# Refund refusals that no retry can change. Not `charge_already_refunded` or `amount_too_large`: those may be
# our own refund whose ledger entry a crash left unwritten (its webhook writes it), so they stay errors to retry.
_NEVER_REFUNDABLE = frozenset({"charge_disputed"})


class WebhookRejected(Exception):
    """A webhook we must answer with 400 and otherwise ignore."""


class WebhookSignatureError(WebhookRejected):
    """The Stripe-Signature header is missing, forged or outside the time tolerance."""


class WebhookPayloadError(WebhookRejected):
    """The body is correctly signed but is not a Stripe event."""


@dataclass(frozen=True)
class SetupIntentResult:
    id: str
    client_secret: str


@dataclass(frozen=True)
class PaymentIntentResult:
    id: str
    status: str
    client_secret: str
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str
    amount_cents: int


@dataclass(frozen=True)
class CardSummary:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    other_ids: tuple[str, ...] = ()  # the same card entered again: older payment methods that top-ups may name


@dataclass(frozen=True)
class IntentSummary:
    """What reconciliation needs of a Stripe PaymentIntent."""

    id: str
    status: str
    amount_cents: int
    account_id: str | None
    topup_id: str | None
    created: float


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: int
    data_object: dict[str, Any]


class StripeGateway:
    """Every outgoing Stripe call; `stripe` is imported on first use so other routes skip its import time."""

    def __init__(self, secret_key: str, api_base: str | None, webhook_secret: str) -> None:
        self._secret_key = secret_key
        self._api_base = api_base
        self._webhook_secret = webhook_secret
        self._client: StripeClient | None = None

    def ensure_customer(self, account_id: str, email: str, existing_customer_id: str | None) -> str:
        if existing_customer_id:
            return existing_customer_id
        with _payment_errors("create customer"):
            customer = self._stripe().v1.customers.create(
                params={"email": email, "metadata": {"account_id": account_id}},
                options={"idempotency_key": f"customer:{account_id}"},
            )
        return customer.id

    def create_setup_intent(self, customer_id: str) -> SetupIntentResult:
        with _payment_errors("create setup intent"):
            # on_session: we only charge while the user is on the page, so 3DS can always be completed.
            intent = self._stripe().v1.setup_intents.create(params={"customer": customer_id, "usage": "on_session"})
        return SetupIntentResult(id=intent.id, client_secret=intent.client_secret or "")

    def charge_saved_card(
        self, customer_id: str, payment_method_id: str, amount_cents: int, currency: str,
        account_id: str, topup_id: str, idempotency_key: str,
    ) -> PaymentIntentResult:
        with _payment_errors("charge saved card"):
            self._claim_card(customer_id, payment_method_id)
            params: PaymentIntentCreateParams = {
                "amount": amount_cents, "currency": currency.lower(), "customer": customer_id,
                "payment_method": payment_method_id, "confirm": True,
                "metadata": {"account_id": account_id, "topup_id": topup_id},
            }
            if self._api_base is None:
                # Stripe wants a return_url for a server-side confirm unless redirects are ruled out;
                # localstripe rejects the parameter (and needs neither), so only real Stripe gets it.
                params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
            intent = self._stripe().v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key},
            )
        return _intent_result(intent)

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentResult:
        """The PaymentIntent as Stripe has it now (a retried top-up answers with it instead of charging again)."""
        with _payment_errors("retrieve payment intent"):
            intent = self._stripe().v1.payment_intents.retrieve(payment_intent_id)
        return _intent_result(intent)

    def payment_fee(self, payment_intent_id: str, currency: str) -> int | None:
        """What Stripe kept for processing the payment (its charge's balance transaction `fee`, in `currency`), or
        None when Stripe does not say (no charge or balance transaction yet, another settlement currency)."""
        with _payment_errors("read payment fee"):
            intent = self._stripe().v1.payment_intents.retrieve(
                payment_intent_id, params={"expand": ["latest_charge.balance_transaction"]})
        charge = getattr(intent, "latest_charge", None)
        balance = getattr(charge, "balance_transaction", None) if charge is not None else None
        fee = getattr(balance, "fee", None) if balance is not None and not isinstance(balance, str) else None
        if not isinstance(fee, int) or fee < 0 or str(getattr(balance, "currency", "")).upper() != currency.upper():
            return None
        return fee

    def refund(self, payment_intent_id: str, amount_cents: int, idempotency_key: str,
               metadata: dict[str, str]) -> RefundResult:
        with _payment_errors("refund"):
            refund = self._stripe().v1.refunds.create(
                params={"payment_intent": payment_intent_id, "amount": amount_cents, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        return RefundResult(id=refund.id, status=refund.status or "", amount_cents=refund.amount)

    def list_payment_methods(self, customer_id: str) -> list[CardSummary]:
        """The customer's cards, newest first, each physical card once: entering the same card again saves a second
        payment method for it, which people read as a duplicate (Stripe's fingerprint names the card; where it
        is missing, brand, last digits and expiry do)."""
        with _payment_errors("list payment methods"):
            methods = self._stripe().v1.payment_methods.list(
                params={"customer": customer_id, "type": "card", "limit": 20},
            )
        cards: dict[object, CardSummary] = {}
        for pm in methods.data:
            if pm.card is None:
                continue
            card = pm.card
            same_card = getattr(card, "fingerprint", None) or (card.brand, card.last4, card.exp_month, card.exp_year)
            if same_card in cards:
                first = cards[same_card]
                cards[same_card] = dataclasses.replace(first, other_ids=(*first.other_ids, pm.id))
            else:
                cards[same_card] = CardSummary(id=pm.id, brand=card.brand, last4=card.last4,
                                               exp_month=card.exp_month, exp_year=card.exp_year)
        return list(cards.values())

    def parse_webhook(self, raw_body: bytes, signature_header: str, now: int) -> StripeEvent:
        verify_signature(raw_body, signature_header, self._webhook_secret, now)
        return _event_from(raw_body)

    # Reconciliation's reads (services/money/reconcile.py): Stripe's errors pass through as they are, the run fails.
    def payment_intents(self, created_since: int | None = None) -> Iterator[IntentSummary]:
        """Every PaymentIntent, newest first; only those created since `created_since` on real Stripe (localstripe
        refuses the `created` filter and holds little anyway)."""
        params: dict[str, Any] = {"limit": 100}
        if created_since is not None and self._api_base is None:
            params["created"] = {"gte": created_since}
        for intent in self._stripe().v1.payment_intents.list(params=params).auto_paging_iter():  # type: ignore[arg-type]
            yield _summary(intent, float(intent.created))

    def payments_succeeded_between(self, since: float, until: float) -> Iterator[IntentSummary]:
        """The PaymentIntents whose `payment_intent.succeeded` event Stripe created in [since, until)."""
        params: dict[str, Any] = {"limit": 100, "type": "payment_intent.succeeded",
                                  "created": {"gte": int(since), "lt": math.ceil(until)}}
        for event in self._stripe().v1.events.list(params=params).auto_paging_iter():  # type: ignore[arg-type]
            yield _summary(event.data.object, float(event.created))

    def payment_intent_summary(self, intent_id: str) -> IntentSummary | None:
        """One PaymentIntent as reconciliation reads it; None when Stripe has no such PaymentIntent."""
        import stripe

        try:
            intent = self._stripe().v1.payment_intents.retrieve(intent_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise
        return _summary(intent, float(intent.created))

    def _claim_card(self, customer_id: str, payment_method_id: str) -> None:
        """Refuse another customer's card; attach a card its SetupIntent left unattached.

        Stripe attaches the card when the SetupIntent succeeds; localstripe does not, so this
        attach is what makes saved cards show up locally. On Stripe it is a single read.
        """
        client = self._stripe()
        method = client.v1.payment_methods.retrieve(payment_method_id)
        if method.customer is None:
            client.v1.payment_methods.attach(payment_method_id, params={"customer": customer_id})
        elif _id_of(method.customer) != customer_id:
            raise PaymentError("This card is not saved on your account. Add it again.")

    def _stripe(self) -> StripeClient:
        if self._client is None:
            import stripe

            self._client = stripe.StripeClient(
                self._secret_key,
                base_addresses={"api": self._api_base} if self._api_base else None,
                max_network_retries=_NETWORK_RETRIES,
                http_client=stripe.new_default_http_client(timeout=_TIMEOUT_SECONDS),
            )
        return self._client


def verify_signature(payload: bytes, header: str, secret: str, now: int,
                     tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS) -> None:
    """Check a Stripe-Signature header (`t=…,v1=…[,v1=…]`) the way Stripe documents it."""
    timestamp, signatures = _parse_signature_header(header)
    # Stripe's own check is one-sided; a far-future stamp would stretch the replay window, so we refuse it too.
    if abs(now - timestamp) > tolerance_seconds:
        raise WebhookSignatureError("Stripe-Signature timestamp is outside the tolerance")
    signed = str(timestamp).encode() + b"." + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureError("no Stripe-Signature v1 signature matches")


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError("Stripe-Signature header is missing or malformed")
    return timestamp, signatures


def _event_from(raw_body: bytes) -> StripeEvent:
    try:
        event = json.loads(raw_body)
        return StripeEvent(id=str(event["id"]), type=str(event["type"]), created=int(event["created"]),
                           data_object=dict(event["data"]["object"]))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise WebhookPayloadError("signed body is not a Stripe event") from exc


def _intent_result(intent: Any) -> PaymentIntentResult:
    return PaymentIntentResult(id=intent.id, status=intent.status, client_secret=intent.client_secret or "",
                               amount_cents=intent.amount, currency=intent.currency)


def _summary(intent: Any, created: float) -> IntentSummary:
    metadata = intent.metadata.to_dict() if intent.metadata else {}
    return IntentSummary(id=intent.id, status=intent.status, amount_cents=int(intent.amount),
                         account_id=metadata.get("account_id"), topup_id=metadata.get("topup_id"), created=created)


def _id_of(ref: object) -> str:
    return ref if isinstance(ref, str) else str(getattr(ref, "id", ""))


@contextmanager
def _payment_errors(operation: str) -> Iterator[None]:
    """Turns any Stripe failure inside the block into a PaymentError a user can read."""
    try:
        yield
    except PaymentError:
        raise
    except Exception as exc:
        import stripe

        if not isinstance(exc, stripe.StripeError):
            raise
        raise _payment_error_for(exc, operation) from exc


def _payment_error_for(exc: StripeError, operation: str) -> PaymentError:
    import stripe

    # Only the error class, code and request id are logged: messages can echo request parameters.
    fields = {"operation": operation, "stripe_error": type(exc).__name__, "stripe_code": exc.code,
              "http_status": exc.http_status, "stripe_request_id": exc.request_id}
    if isinstance(exc, stripe.CardError):
        logger.info("stripe card error", extra=fields)
        reason = exc.code or "card_declined"
        return PaymentError(_CARD_MESSAGES.get(reason, "Your card could not be charged."), details={"reason": reason})
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)):
        logger.warning("stripe unavailable", extra=fields)
        return PaymentUnavailable(_UNAVAILABLE)
    if isinstance(exc, stripe.IdempotencyError):
        logger.warning("stripe idempotency conflict", extra=fields)
        return PaymentUnavailable("This payment is already being processed.")
    if operation == "refund" and exc.code in _NEVER_REFUNDABLE:
        logger.warning("stripe will not refund this payment", extra=fields)
        return RefundRefused(_NOT_PROCESSED)
    logger.error("stripe request refused", extra=fields)
    return PaymentError(_NOT_PROCESSED)
