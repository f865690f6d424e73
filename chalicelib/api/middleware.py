"""What runs around every route, outermost first: the log context, security headers, failures nobody planned for in
our envelope, the settings gate, maintenance, the rate limit, and Chalice's own refusals in our envelope. app.py
registers them in this order (MIDDLEWARE)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import ChaliceUnhandledError, Response

from chalicelib import wiring
from chalicelib.api import fields, settings_gate
from chalicelib.api.errors import error_body, error_response
from chalicelib.api.kit import source_ip
from chalicelib.api.lazy import lazy_module
from chalicelib.config import get_environment_settings
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.ids import new_id
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.services.platform import rate_limit, runtime_settings
else:
    # Loaded by the first request that passes them (with the store's models), not by importing the app: every
    # request still passes the rate limit, a cold start just does not load it before it.
    rate_limit = lazy_module("chalicelib.services.platform.rate_limit")
    runtime_settings = lazy_module("chalicelib.services.platform.runtime_settings")

Middleware = Callable[[Any, Callable[[Any], Any]], Any]

# Paths that keep working in maintenance (5.2): health for load balancers, Stripe and partner pushes so no
# payment or code is lost, the handler and 5sim APIs, which answer maintenance in their own protocols, and
# the dashboard's page and files, so a person sees the page with its maintenance banner rather than raw JSON.
# The same paths skip the per-client rate limit (a refused webhook is a delayed credit or code).
MAINTENANCE_EXEMPT = ("/health", "/v1/webhooks/", "/v1/partners/", "/stubs/", "/5sim/", "/static/")
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """`nosniff` on every reply; `no-store` on every reply that is not explicitly public and on every reply to a
    request that carries a credential (a shared cache must never keep a balance, a key or an SMS); HSTS when
    deployed (the local stage is plain HTTP)."""
    response = get_response(event)
    headers = response.headers
    present = {name.lower() for name in headers}
    headers.setdefault("X-Content-Type-Options", "nosniff")
    request_id = _request_id(event)
    if isinstance(request_id, str):
        headers.setdefault("X-Request-Id", request_id)  # what support and the user can quote
    if "cache-control" not in present or _carries_credential(event):
        for name in [n for n in headers if n.lower() == "cache-control"]:
            del headers[name]
        headers["Cache-Control"] = "no-store"
    if get_environment_settings().stage != "local":
        headers["Strict-Transport-Security"] = HSTS
    return response


def _request_id(event: Any) -> Any:
    """API Gateway's id of this request (what support and the user can quote), when the event has one."""
    return (getattr(event, "context", None) or {}).get("requestId")


def _carries_credential(event: Any) -> bool:
    request_headers = getattr(event, "headers", None) or {}
    query = getattr(event, "query_params", None) or {}
    return bool(request_headers.get("authorization")) or "api_key" in query


def unexpected_errors_as_envelope(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """A failure nobody planned for is a 500 in the envelope with the request id to quote, and nothing of its internals
    (the log has the trace); a table's outage (throttled past the SDK's own retries, unreachable) is a 503 to retry.
    REST views hand theirs on as ChaliceUnhandledError (kit.RestRoutes); any other route's reaches Chalice, whose
    {"Code", "Message"} 500 `chalice_errors_as_envelope` rewrites. The handler and 5sim APIs answer their own
    failures in their protocols."""
    try:
        return get_response(event)
    except Exception as raised:
        error = raised.__cause__ if isinstance(raised, ChaliceUnhandledError) and raised.__cause__ else raised
        from chalicelib.store.transaction import unavailable  # only on this path: a cold start loads none

        if unavailable(error):
            logger.warning("table unavailable", exc_info=error)
            return Response(body=error_body("SERVICE_UNAVAILABLE", "The service is briefly unavailable; try again in a "
                                            "moment."), status_code=503,
                            headers={"Content-Type": "application/json", "Retry-After": "1"})
        logger.error("request failed", exc_info=error)
        return internal_error(event)


def internal_error(event: Any) -> Response:
    request_id = _request_id(event) or "unknown"
    return Response(body=error_body("INTERNAL_ERROR", "Something failed on our side. If it happens again, contact "
                                    f"support and quote request id {request_id}."), status_code=500,
                    headers={"Content-Type": "application/json"})


def maintenance_gate(event: Any, get_response: Callable[[Any], Response]) -> Response:
    path = event.path or ""
    if path != "/" and not path.startswith(MAINTENANCE_EXEMPT):
        state = runtime_settings.maintenance()
        if state.on:
            message = state.message or "SMS Rooms is down for maintenance. Please try again soon."
            return Response(body=error_body("MAINTENANCE", message), status_code=503,
                            headers={"Retry-After": "300", "Content-Type": "application/json"})
    return get_response(event)


def rate_limit_gate(event: Any, get_response: Callable[[Any], Response]) -> Response:
    # After the maintenance gate; Stripe's webhooks are never limited (a refused event is a delayed credit).
    path = event.path or ""
    if path.startswith("/v1/") and not path.startswith(MAINTENANCE_EXEMPT):
        caller_ip = source_ip(event.context)
        try:
            secret = fields.bearer((event.headers or {}).get("authorization"))
            rate_limit.admit_request(wiring.rate_limiter(), secret, caller_ip)
        except RateLimited as error:
            return error_response(error)
    return get_response(event)


def chalice_errors_as_envelope(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice answers some refusals itself (405, 415, its own 400s) as {"Code", "Message"}: same envelope. So it
    answers a view's unplanned failure (logged by Chalice): our 500 instead."""
    response = get_response(event)
    body = response.body
    if response.status_code == 500 and body == _CHALICE_500:
        return internal_error(event)
    if 400 <= response.status_code < 500 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", str(body["Code"]).removesuffix("Error")).upper()
        response.body = error_body(code, str(body["Message"]))
        response.headers["Content-Type"] = "application/json"
    return response


_CHALICE_500 = {"Code": "InternalServerError", "Message": "An internal server error occurred."}
_cold_start = True


def log_context(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Every log line of an invocation carries its request id, path and whether it was a cold start."""
    global _cold_start
    context = getattr(event, "context", None)
    request_id = (context.get("requestId") if isinstance(context, dict) else None) or getattr(
        getattr(event, "lambda_context", None), "aws_request_id", None)
    if isinstance(context, dict) and not context.get("requestId"):
        # Chalice's local gateway gives none: one of ours, so records that name the request (13.3) work locally.
        request_id = context["requestId"] = request_id or new_id("req")
    logger.append_keys(request_id=request_id, request_path=getattr(event, "path", None), cold_start=_cold_start)
    _cold_start = False
    return get_response(event)


# (function, Chalice event type), outermost first. The settings gate runs before anything reads a table or a
# secret (a missing or published setting refuses every kind of event), inside the headers so its 503 has them.
MIDDLEWARE: list[tuple[Middleware, str]] = [
    (log_context, "all"),
    (security_headers, "http"),
    (unexpected_errors_as_envelope, "http"),
    (settings_gate.refuse_when_misconfigured, "all"),
    (maintenance_gate, "http"),
    (rate_limit_gate, "http"),
    (chalice_errors_as_envelope, "http"),
]
