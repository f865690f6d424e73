"""Test control of the simulator under `/_sim/` (JSON): configure, deliver an SMS now, reset, read the state."""
from __future__ import annotations

import json

from infra.local.simulator.config import parse_change
from infra.local.simulator.handler_api import Reply, as_json
from infra.local.simulator.push import SmsPusher
from infra.local.simulator.state import SimState


def _error(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}), "application/json")


def _json_object(body: bytes) -> dict[str, object]:
    if not body.strip():
        return {}
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def handle_control(state: SimState, pusher: SmsPusher, method: str, path: str, body: bytes) -> Reply:
    path = path.rstrip("/")
    if (method, path) == ("GET", "/_sim/state"):
        return as_json(state.snapshot())
    routes = {"/_sim/config": _configure, "/_sim/deliver": _deliver, "/_sim/reset": _reset}
    if path not in routes:
        return _error(404, f"no such control: {path}")
    if method != "POST":
        return _error(405, f"{path} takes POST")
    try:
        return routes[path](state, pusher, _json_object(body))
    except ValueError as exc:
        return _error(400, str(exc))


def _configure(state: SimState, pusher: SmsPusher, body: dict[str, object]) -> Reply:
    state.configure(parse_change(body))
    return as_json(state.snapshot()["config"])


def _deliver(state: SimState, pusher: SmsPusher, body: dict[str, object]) -> Reply:
    phone, text, code, service = body.get("phone"), body.get("text"), body.get("code"), body.get("service")
    if not isinstance(phone, str) or not phone.lstrip("+").isdigit():
        raise ValueError("phone: must be a string of digits")
    if not isinstance(text, str) or not text:
        raise ValueError("text: must be a non-empty string")
    if code is not None and not isinstance(code, str):
        raise ValueError("code: must be a string")
    if service is not None and not isinstance(service, str):
        raise ValueError("service: must be a string")
    activation = state.deliver_now(phone.lstrip("+"), text, code or None, service)
    if activation is None:
        with state.lock:
            rental = state.rent.deliver_now(phone.lstrip("+"), text)
        if rental is not None:
            return as_json({"rentId": rental.id, "quantity": len(rental.sms)})
        return _error(404, f"no active activation or rental with phone {phone}")
    return as_json({"activationId": activation.id, "code": activation.last_code})


def _reset(state: SimState, pusher: SmsPusher, body: dict[str, object]) -> Reply:
    pusher.cancel_timers()
    state.reset()
    return as_json({"status": "reset"})
