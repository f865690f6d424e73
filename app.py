"""SMS Rooms: wires the Chalice app (routes, schedules, the admin Lambda); no logic lives here."""
from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate, Response

import chalicelib.jobs.all  # noqa: F401  (registers the scheduled jobs)
from chalicelib.api import system
from chalicelib.api.errors import error_body
from chalicelib.config import get_settings
from chalicelib.jobs.registry import JOBS
from chalicelib.observability import logger
from chalicelib.services import runtime_settings
from chalicelib.store.base import bind_models

app = Chalice(app_name="sms-rooms")
bind_models(get_settings())

# Paths that keep working in maintenance (5.2): health for load balancers, Stripe so no payment is lost,
# and the handler API, which answers maintenance in its own protocol.
_MAINTENANCE_EXEMPT = ("/health", "/v1/webhooks/", "/stubs/")


@app.middleware("http")
def maintenance_gate(event: Any, get_response: Any) -> Response:
    path = event.path or ""
    if not path.startswith(_MAINTENANCE_EXEMPT):
        state = runtime_settings.maintenance()
        if state.on:
            message = state.message or "SMS Rooms is down for maintenance. Please try again soon."
            return Response(body=error_body("MAINTENANCE", message), status_code=503,
                            headers={"Retry-After": "300", "Content-Type": "application/json"})
    return get_response(event)


@app.middleware("all")
def log_context(event: Any, get_response: Any) -> Any:
    logger.append_keys(request_path=getattr(event, "path", None))
    return get_response(event)


app.register_blueprint(system.bp)

for _job in JOBS:
    app.schedule(Rate(_job.rate_minutes, unit=Rate.MINUTES), name=_job.name)(_job.handler)
