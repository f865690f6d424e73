"""REST v1 for the webhook's delivery log: read it a page at a time (`GET /v1/webhook/deliveries`), redeliver one."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.webhook_events import EventType

if TYPE_CHECKING:  # the service loads with the first request that needs it (api/lazy.py)
    from chalicelib.services.platform import webhook_log
    from chalicelib.store.outbox_repo import WebhookDelivery
else:
    webhook_log = lazy_module("chalicelib.services.platform.webhook_log")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
_EVENT_TYPES = frozenset(t.value for t in EventType)


@v1.route("/v1/webhook/deliveries", methods=["GET"])
def list_deliveries() -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query = dict(v1.request.query_params or {})
    status = _choice(query, "status", webhook_log.DELIVERY_STATUSES)
    event_type = _choice(query, "event", tuple(sorted(_EVENT_TYPES)))
    limit = fields.query_integer(query, "limit", minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT
    page = webhook_log.deliveries_page(account_id, limit, query.get("cursor") or None, status=status,
                                       event_type=event_type)
    return {"items": [delivery_view(d) for d in page.items], "next_cursor": page.next_cursor}


@v1.route("/v1/webhook/deliveries/{delivery_id}/redeliver", methods=["POST"])
def redeliver(delivery_id: str) -> Response:
    account = v1.principal().account
    copy = wiring.redelivery().redeliver(account, delivery_id)
    return Response(body=delivery_view(copy), status_code=201, headers={"Content-Type": "application/json"})


def delivery_view(d: WebhookDelivery) -> dict[str, Any]:
    pending = d.status == "pending"
    return {"delivery_id": d.delivery_id, "event_id": d.event_id, "event": d.event_type or EventType.SMS_RECEIVED.value,
            "stream": d.stream, "sequence": int(d.sequence) if d.sequence is not None else None,
            "status": d.status, "attempts": int(d.attempts), "last_error": d.last_error,
            "last_status_code": int(d.last_status_code) if d.last_status_code is not None else None,
            "url": d.url or None, "created_at": iso(float(d.created_at)),
            "next_attempt_at": iso(float(d.next_attempt_at)) if pending else None,
            "delivered_at": iso(float(d.delivered_at)) if d.delivered_at is not None else None,
            "redelivery_of": d.redelivery_of, "payload": json.loads(d.body)}


def _choice(query: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = query.get(name) or None
    if raw is None:
        return None
    if raw not in allowed:
        raise InvalidInput(f"'{name}' must be one of {', '.join(allowed)}.", details={"field": name})
    return raw
