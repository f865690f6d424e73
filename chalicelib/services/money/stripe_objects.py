"""Reading the object of a verified Stripe event: ids and amounts checked, and our top-up behind it."""
from __future__ import annotations

from typing import Any

from chalicelib.domain.ids import is_identifier
from chalicelib.domain.payments import TopUp
from chalicelib.observability import logger
from chalicelib.providers.stripe_gateway import (
    WebhookPayloadError,
)
from chalicelib.store import payment_repo

_STRIPE_ID_MAX = 255  # Stripe's ids are far shorter; a longer one is not Stripe's and cannot be a DynamoDB key
_CENTS_MAX = 10**12  # no payment is ten billion; DynamoDB keeps 38 digits


def topup_of(payment_intent_id: object, metadata: object) -> TopUp | None:
    """Our top-up behind a Stripe object: by the topup_id we put in the metadata, else by its PaymentIntent."""
    topup_id = metadata.get("topup_id") if isinstance(metadata, dict) else None
    topup: TopUp | None = None
    if isinstance(topup_id, str) and topup_id:
        topup = payment_repo.topup(topup_id) if is_identifier(topup_id) else None
    elif isinstance(payment_intent_id, str) and is_identifier(payment_intent_id, _STRIPE_ID_MAX):
        topup = payment_repo.topup_by_intent(payment_intent_id)
    if topup is None:
        logger.warning("stripe object for no top-up of ours", extra={"payment_intent_id": payment_intent_id})
    return topup


def paid_topup_of(money: dict[str, Any]) -> TopUp | None:
    """The top-up a Stripe refund or dispute is about, when its currency is the top-up's."""
    topup = topup_of(money.get("payment_intent"), money.get("metadata"))
    if topup is None:
        return None
    if str(money.get("currency", "")).lower() != topup.currency.lower():
        logger.error("stripe refund or dispute in another currency", extra={
            "topup_id": topup.topup_id, "stripe_object_id": money.get("id"), "currency": money.get("currency")})
        return None
    return topup



def credit_mismatch(topup: TopUp, intent: dict[str, Any]) -> str | None:
    """What in a succeeded PaymentIntent differs from the top-up we charged, if anything."""
    metadata = intent.get("metadata") or {}
    amount = stripe_cents(intent, "amount")
    checks = [
        ("status", intent.get("status") != "succeeded"),
        ("payment_intent", topup.payment_intent_id not in (None, intent.get("id"))),
        ("account", metadata.get("account_id") not in (None, topup.account_id)),
        ("amount", amount != topup.amount_cents),
        ("amount_received", intent.get("amount_received") not in (None, amount)),
        ("currency", str(intent.get("currency", "")).lower() != topup.currency.lower()),
    ]
    return next((name for name, differs in checks if differs), None)


def stripe_id(obj: dict[str, Any], name: str) -> str:
    """A Stripe id field of the event's object."""
    value = obj.get(name)
    if not isinstance(value, str) or not is_identifier(value, _STRIPE_ID_MAX):
        raise WebhookPayloadError(f"Stripe object without a valid '{name}'")
    return value


def stripe_cents(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _CENTS_MAX:
        raise WebhookPayloadError(f"Stripe object with a bad '{name}'")
    return value
