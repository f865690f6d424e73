"""SMS Rooms: wires the Chalice app (routes, schedules, the admin Lambda); no logic lives here."""
from __future__ import annotations

from chalicelib import startup  # first: the collector stays paused until the container has started

# isort: split
from typing import Any

from chalice import Chalice, Rate

import chalicelib.jobs.all  # noqa: F401  (registers the scheduled jobs)
from chalicelib.api import (
    account_security,
    accounts,
    activations,
    fivesim_api,
    handler_api,
    history,
    live,
    money,
    partner_push,
    rentals,
    smshub_push,
    support,
    system,
    two_factor,
    web,
    webhook_deliveries,
)
from chalicelib.api.middleware import MIDDLEWARE
from chalicelib.config import get_environment_settings
from chalicelib.jobs.registry import JOBS
from chalicelib.store.binding import bind_models

app = Chalice(app_name="sms-rooms")
app.experimental_feature_flags.update(["WEBSOCKETS"])  # Chalice still calls its WebSocket support experimental
_settings = get_environment_settings()
bind_models(_settings)

for _middleware, _event_type in MIDDLEWARE:
    app.register_middleware(_middleware, _event_type)

app.register_blueprint(system.bp)
app.register_blueprint(accounts.bp)
app.register_blueprint(account_security.bp)
app.register_blueprint(two_factor.bp)
app.register_blueprint(money.bp)
app.register_blueprint(web.bp)
app.register_blueprint(support.bp)
app.register_blueprint(history.bp)
app.register_blueprint(webhook_deliveries.bp)
app.register_blueprint(live.bp)
app.register_blueprint(activations.bp)
app.register_blueprint(rentals.bp)
app.register_blueprint(partner_push.bp)
app.register_blueprint(smshub_push.bp)
app.register_blueprint(handler_api.bp)
app.register_blueprint(fivesim_api.bp)


# Live updates (api/live.py): API Gateway's WebSocket API deployed, infra/local/live_gateway.py locally.
@app.on_ws_connect()
def websocket_connect(event: Any) -> Any:
    return live.on_connect(event)


@app.on_ws_message()
def websocket_message(event: Any) -> None:
    live.on_message(event)


@app.on_ws_disconnect()
def websocket_disconnect(event: Any) -> None:
    live.on_disconnect(event)


@app.lambda_function(name="admin")
def admin(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.admin_lambda import handle  # imported here: the API's cold start does not pay for it

    return handle(event)


# Deployed, each schedule's Lambda handler is `app.<function name>`, so each one is bound here by that name.
for _job in JOBS:
    globals()[_job.handler.__name__] = app.schedule(Rate(_job.rate_minutes, unit=Rate.MINUTES),
                                                    name=_job.name)(_job.handler)

startup.started(_settings)
