"""REST v1 for money: card top-ups, Stripe's webhook, the ledger, the payments page and refund requests (6.2, 6.3)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.errors import error_body
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.config import get_settings
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput
from chalicelib.observability import logger

if TYPE_CHECKING:  # these load with the first request that needs them, not with the app (api/lazy.py)
    from chalicelib.domain import payments
    from chalicelib.domain.payments import PaymentRecord, RefundRequest, TopUp
    from chalicelib.providers import stripe_gateway
    from chalicelib.services.money import history
    from chalicelib.services.money.payment_history import PaymentRow
else:
    history = lazy_module("chalicelib.services.money.history")
    payments = lazy_module("chalicelib.domain.payments")
    stripe_gateway = lazy_module("chalicelib.providers.stripe_gateway")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

_ID_MAX = 255
_REASON_MAX = 2000
# Stripe sends `application/json; charset=utf-8`; the signature is checked on the raw bytes either way.
_STRIPE_CONTENT_TYPES = ["application/json", "text/plain", "application/octet-stream"]


def _created(body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=201, headers={"Content-Type": "application/json"})


@v1.route("/v1/topups/card-setup", methods=["POST"])
def card_setup() -> Response:
    setup = wiring.top_ups().start_card_setup(v1.principal().account)
    return _created({"setup_intent_id": setup.setup_intent_id, "client_secret": setup.client_secret,
                     "publishable_key": setup.publishable_key, "stripe_js_url": setup.stripe_js_url})


@v1.route("/v1/topups/cards", methods=["GET"])
def saved_cards() -> dict[str, Any]:
    cards = wiring.top_ups().saved_cards(v1.principal().account)
    return {"items": [{"id": c.id, "brand": c.brand, "last4": c.last4, "exp_month": c.exp_month,
                       "exp_year": c.exp_year, "payment_method_ids": [c.id, *c.other_ids]} for c in cards]}


@v1.route("/v1/topups", methods=["POST"])
def top_up() -> Response:
    account = v1.principal().account
    body = v1.json_body()
    headers: Any = v1.request.headers or {}
    key = str(headers.get("idempotency-key") or "").strip() or None
    if key is not None and len(key) > _ID_MAX:
        raise InvalidInput(f"The Idempotency-Key header is longer than {_ID_MAX} characters.")
    started = wiring.top_ups().start(account, fields.required_integer(body, "amount_cents"),
                                       fields.text(body, "payment_method_id", max_length=_ID_MAX), key)
    return _created({"topup_id": started.topup_id, "payment_intent_id": started.payment_intent_id,
                     "status": started.stripe_status, "client_secret": started.client_secret})


@v1.route("/v1/webhooks/stripe", methods=["POST"], content_types=_STRIPE_CONTENT_TYPES)
def stripe_webhook() -> Response:
    body = v1.raw_bytes()
    headers: Any = v1.request.headers or {}
    if not fields.within_depth(body):
        # Checked before json.loads, whose recursion a body nested 100k deep would exhaust (signed or not).
        return Response(body=error_body("MALFORMED_JSON", "The Stripe event nests too deep to be one."),
                        status_code=400, headers={"Content-Type": "application/json"})
    try:
        outcome = wiring.stripe_events().receive(body, str(headers.get("stripe-signature") or ""))
    except stripe_gateway.WebhookRejected as rejected:
        logger.warning("stripe webhook rejected", extra={"reason": str(rejected)})
        return Response(body=error_body("BAD_SIGNATURE", "The Stripe signature or event is not valid."),
                        status_code=400, headers={"Content-Type": "application/json"})
    return Response(body={"received": True, "outcome": outcome.value}, status_code=200,
                    headers={"Content-Type": "application/json"})


@v1.route("/v1/refund-requests", methods=["POST"])
def create_refund_request() -> Response:
    account = v1.principal().account
    reason = fields.text(v1.json_body(), "reason", max_length=_REASON_MAX)
    from chalicelib.services.money.refund_requests import request_refund

    request = request_refund(wiring.refund_requests(), wiring.support_desk(), account.account_id, reason)
    return _created(_refund_request_item(request))


@v1.route("/v1/refund-requests/preview", methods=["GET"])
def preview_refund_request() -> dict[str, Any]:
    """What a refund request made now would pay back to each card and what it keeps (6.3), before asking."""
    account_id = v1.principal().account.account_id
    plan = wiring.refund_requests().preview(account_id)
    return {"available_cents": plan.paid_cents + plan.deposit_fee_cents + plan.fee_cents + plan.uncovered_cents,
            "currency": get_settings().currency, **plan.as_json()}


@v1.route("/v1/refund-requests", methods=["GET"])
def list_refund_requests() -> dict[str, Any]:
    requests = wiring.refund_requests().of_account(v1.principal().account.account_id)
    return {"items": [_refund_request_item(r) for r in requests]}


def payment_view(row: PaymentRow) -> dict[str, Any]:
    """A row of the payments page (GET /v1/payments, api/history.py) as the API shows it."""
    if isinstance(row.item, payments.TopUp):
        return _top_up_item(row.item)
    if isinstance(row.item, payments.RefundRequest):
        return _refund_request_item(row.item)
    return _record_item(row.item)


def _top_up_item(topup: TopUp) -> dict[str, Any]:
    return {"type": "top_up", "id": topup.topup_id, "amount_cents": int(topup.amount_cents),
            "currency": topup.currency, "status": topup.status, "payment_intent_id": topup.payment_intent_id,
            "payment_method_id": topup.payment_method_id,
            "refunded_cents": int(topup.refunded_cents), "created_at": iso(topup.created_at)}


def _record_item(record: PaymentRecord) -> dict[str, Any]:
    return {"type": record.kind, "id": record.ref_id, "amount_cents": int(record.amount_cents),
            "currency": record.currency, "payment_intent_id": record.payment_intent_id,
            "refund_request_id": record.refund_request_id, "created_at": iso(record.created_at)}


def _refund_request_item(request: RefundRequest) -> dict[str, Any]:
    return {"type": "refund_request", "id": request.request_id, "request_id": request.request_id,
            "amount_cents": int(request.amount_cents), "status": request.status, "reason": request.reason,
            "paid_cents": int(request.paid_cents), "fee_cents": int(request.fee_cents),
            "deposit_fee_cents": int(request.deposit_fee_cents or 0),
            "uncovered_cents": int(request.uncovered_cents), "decision_note": request.decision_note,
            "created_at": iso(request.created_at),
            "decided_at": iso(request.decided_at) if request.decided_at is not None else None}
