"""SMS Rooms: wires the Chalice app (routes, schedules, the admin Lambda); no logic lives here."""
from __future__ import annotations

import re
from typing import Any

from chalice import Chalice, Rate, Response

import chalicelib.jobs.all  # noqa: F401  (registers the scheduled jobs)
from chalicelib.api import (
    account_security,
    accounts,
    activations,
    fivesim_api,
    handler_api,
    money,
    partner_push,
    settings_gate,
    smshub_push,
    support,
    system,
    web,
)
from chalicelib.api.errors import error_body, error_response
from chalicelib.config import get_environment_settings
from chalicelib.domain.errors import RateLimited
from chalicelib.jobs.registry import JOBS
from chalicelib.observability import logger, metrics
from chalicelib.services import rate_limit, runtime_settings
from chalicelib.services.authn import bearer
from chalicelib.store.base import bind_models

app = Chalice(app_name="sms-rooms")
bind_models(get_environment_settings())
# Alarms watch each stage's metrics apart (infra/operations.py): dev and prod may share an account.
metrics.set_default_dimensions(stage=get_environment_settings().stage)

_cold_start = True


@app.middleware("all")
def log_context(event: Any, get_response: Any) -> Any:
    """Every log line of an invocation carries its request id, path and whether it was a cold start."""
    global _cold_start
    context = getattr(event, "context", None)
    request_id = (context.get("requestId") if isinstance(context, dict) else None) or getattr(
        getattr(event, "lambda_context", None), "aws_request_id", None)
    logger.append_keys(request_id=request_id, request_path=getattr(event, "path", None), cold_start=_cold_start)
    _cold_start = False
    return get_response(event)


# Before anything reads a table or a secret: a missing or published setting refuses every kind of event.
app.middleware("all")(settings_gate.refuse_when_misconfigured)


# Paths that keep working in maintenance (5.2): health for load balancers, Stripe and partner pushes so no
# payment or code is lost, the handler and 5sim APIs, which answer maintenance in their own protocols, and
# the dashboard's page and files, so a person sees the page with its maintenance banner rather than raw JSON.
# The same paths skip the per-client rate limit (a refused webhook is a delayed credit or code).
_MAINTENANCE_EXEMPT = ("/health", "/v1/webhooks/", "/v1/partners/", "/stubs/", "/5sim/", "/static/")


@app.middleware("http")
def maintenance_gate(event: Any, get_response: Any) -> Response:
    path = event.path or ""
    if path != "/" and not path.startswith(_MAINTENANCE_EXEMPT):
        state = runtime_settings.maintenance()
        if state.on:
            message = state.message or "SMS Rooms is down for maintenance. Please try again soon."
            return Response(body=error_body("MAINTENANCE", message), status_code=503,
                            headers={"Retry-After": "300", "Content-Type": "application/json"})
    return get_response(event)


@app.middleware("http")
def rate_limit_gate(event: Any, get_response: Any) -> Response:
    # After the maintenance gate; Stripe's webhooks are never limited (a refused event is a delayed credit).
    path = event.path or ""
    if path.startswith("/v1/") and not path.startswith(_MAINTENANCE_EXEMPT):
        source_ip = ((event.context or {}).get("identity") or {}).get("sourceIp")
        try:
            rate_limit.admit_request(bearer((event.headers or {}).get("authorization")), source_ip)
        except RateLimited as error:
            return error_response(error)
    return get_response(event)


@app.middleware("http")
def chalice_errors_as_envelope(event: Any, get_response: Any) -> Response:
    """Chalice answers some refusals itself (405, 415, its own 400s) as {"Code", "Message"}: same envelope."""
    response = get_response(event)
    body = response.body
    if 400 <= response.status_code < 500 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", str(body["Code"]).removesuffix("Error")).upper()
        response.body = error_body(code, str(body["Message"]))
        response.headers["Content-Type"] = "application/json"
    return response


app.register_blueprint(system.bp)
app.register_blueprint(accounts.bp)
app.register_blueprint(account_security.bp)
app.register_blueprint(money.bp)
app.register_blueprint(web.bp)
app.register_blueprint(support.bp)
app.register_blueprint(activations.bp)
app.register_blueprint(partner_push.bp)
app.register_blueprint(smshub_push.bp)
app.register_blueprint(handler_api.bp)
app.register_blueprint(fivesim_api.bp)


@app.lambda_function(name="admin")
def admin(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.admin_lambda import handle  # imported here: the API's cold start does not pay for it

    return handle(event)


# Deployed, each schedule's Lambda handler is `app.<function name>`, so each one is bound here by that name.
for _job in JOBS:
    globals()[_job.handler.__name__] = app.schedule(Rate(_job.rate_minutes, unit=Rate.MINUTES),
                                                    name=_job.name)(_job.handler)
