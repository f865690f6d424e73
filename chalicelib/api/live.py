"""Live updates: where a page opens its WebSocket (`GET /v1/live`), and the socket's three handlers, which app.py
binds to Chalice's `on_ws_connect`, `on_ws_message` and `on_ws_disconnect` (API Gateway's WebSocket API deployed,
infra/local/live_gateway.py locally). Each turns API Gateway's event into one call of services/platform/live_updates.
"""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.kit import RestRoutes, source_ip
from chalicelib.config import get_settings

bp = Blueprint(__name__)
v1 = RestRoutes(bp)


@v1.route("/v1/live", methods=["GET"])
def live_url() -> dict[str, Any]:
    """Where the caller's page opens its live-updates socket; null: this stage has none, poll instead."""
    v1.principal()
    return {"url": get_settings().live_url or None}


def on_connect(event: Any) -> Response | None:
    raw = event.to_dict()
    live = wiring.live_updates()
    origin = _header(raw, "origin")
    if not live.connect(event.connection_id, live.endpoint(event.domain_name, event.stage), origin):
        return Response(body="", status_code=403)  # another site's page: the handshake is refused
    return None


def on_message(event: Any) -> None:
    raw = event.to_dict()
    live = wiring.live_updates()
    body = raw.get("body")
    caller_ip = source_ip(raw.get("requestContext")) or "0.0.0.0"  # not a bind address: an unknown peer
    live.receive(event.connection_id, live.endpoint(event.domain_name, event.stage),
                 body if isinstance(body, str) else None, caller_ip, binary=bool(raw.get("isBase64Encoded")))


def on_disconnect(event: Any) -> None:
    wiring.live_updates().disconnect(event.connection_id)


def _header(raw: dict[str, Any], name: str) -> str | None:
    headers = raw.get("headers") or {}
    value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == name), None)
    return value if isinstance(value, str) else None
