"""Fail closed: no route, webhook, schedule or admin command runs while a required setting is missing or published.

One middleware for every event kind, so nothing is forgotten: HTTP answers 503 MISCONFIGURED (a load balancer or
`make smoke` sees it on /health; a Stripe or partner webhook is refused before its signature is even computed, so
Stripe retries it once the secret is fixed), the admin Lambda answers the error shape `bin/admin` prints, and a
scheduled run fails (Lambda's error metric and the schedule's dead-letter queue see it). Which setting is wrong is
in the function's log (one line per reading, naming settings, never values), not in the public answer.
"""
from __future__ import annotations

from typing import Any

from chalice import Response
from chalice.app import LambdaFunctionEvent, Request, WebsocketEvent

from chalicelib.api.errors import error_body
from chalicelib.config import Misconfigured, get_settings

CODE = "MISCONFIGURED"
PUBLIC_MESSAGE = "SMS Rooms is not configured correctly and refuses to work until the operator fixes it."


def refuse_when_misconfigured(event: Any, get_response: Any) -> Any:
    try:
        get_settings()
        return get_response(event)
    except Misconfigured as refusal:
        if isinstance(event, Request):
            return Response(body=error_body(CODE, PUBLIC_MESSAGE), status_code=503,
                            headers={"Content-Type": "application/json", "Retry-After": "60"})
        if isinstance(event, WebsocketEvent):  # a socket's handshake is refused; the page polls (and sees the 503)
            return Response(body="", status_code=503)
        if isinstance(event, LambdaFunctionEvent):
            return error_body(CODE, str(refusal), {"settings": [p.setting for p in refusal.problems]})
        raise
