"""The Lambdas `chalice package` emits, by the logical ids it gives them: the API, the admin Lambda, the WebSocket
handlers (live updates), each schedule."""
from __future__ import annotations

from dataclasses import dataclass

from chalice.utils import to_cfn_resource_name

import chalicelib.jobs.all  # noqa: F401  (registers the scheduled jobs)
from chalicelib.jobs.registry import JOBS

API = "api_handler"
ADMIN = "admin"
# Chalice's names for the `on_ws_connect`, `on_ws_message` and `on_ws_disconnect` handlers (app.py).
WEBSOCKET_HANDLERS = ("websocket_connect", "websocket_message", "websocket_disconnect")


@dataclass(frozen=True)
class Function:
    name: str  # chalice's name: `api_handler`, `admin` or the job's name
    scheduled: bool

    @property
    def logical_id(self) -> str:
        return "APIHandler" if self.name == API else to_cfn_resource_name(self.name)

    @property
    def role_id(self) -> str:
        return to_cfn_resource_name(f"{self.name}_role")

    @property
    def log_group_id(self) -> str:
        return f"{self.logical_id}Logs"

    @property
    def schedule_event_id(self) -> str:
        return f"{self.logical_id}Event"


def functions() -> list[Function]:
    """Every function of the stack: the API, the admin Lambda, the WebSocket handlers, then the schedules in
    registration order."""
    return [Function(API, scheduled=False), Function(ADMIN, scheduled=False),
            *(Function(name, scheduled=False) for name in WEBSOCKET_HANDLERS),
            *(Function(j.name, scheduled=True) for j in JOBS)]
