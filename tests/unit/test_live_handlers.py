"""The three WebSocket handlers as API Gateway invokes them (app.py's Chalice handlers, events as AWS documents
them): a page's socket kept and forgotten, each call allowed by the handler's own role in the packaged stack,
another site's page refused, and a misconfigured stage refusing the handshake with 503, never 500."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

import app as app_module
from chalicelib import wiring
from chalicelib.config import Misconfigured, SettingError, get_settings
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.store.live import LiveConnection
from infra.functions import WEBSOCKET_HANDLERS, Function
from tests.unit.activation_support import Desk
from tests.unit.infra_support import allows, packaged_dev
from tests.unit.test_infra_job_access import calls  # noqa: F401  (the fixture recording each call as IAM sees it)

DOMAIN, STAGE = "abc123.execute-api.us-east-1.amazonaws.com", "api"


class Sockets:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, dict[str, Any]]] = []

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        self.posted.append((endpoint, connection_id, json.loads(data)))

    def close(self, endpoint: str, connection_id: str) -> None:
        pass


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> Sockets:
    fake = Sockets()
    monkeypatch.setattr(wiring, "live_sockets", lambda: fake)
    monkeypatch.setattr(wiring, "live_updates", lambda: wiring.build_live_updates(get_settings(), wiring.clock(),
                                                                                  fake))
    return fake


def _event(route: str, connection_id: str, body: str | None = None, origin: str | None = None) -> dict[str, Any]:
    """What API Gateway's WebSocket API gives a handler (requestContext and, on $connect, the handshake headers)."""
    event: dict[str, Any] = {
        "requestContext": {"routeKey": route, "eventType": route.strip("$").upper(), "connectionId": connection_id,
                           "domainName": DOMAIN, "stage": STAGE, "apiId": "abc123",
                           "identity": {"sourceIp": "198.51.100.7"}, "requestTimeEpoch": int(time.time() * 1000)},
        "isBase64Encoded": False, "body": body}
    if origin is not None:
        event["headers"] = {"Host": DOMAIN, "Origin": origin}
    return event


def _handler(route: str) -> Any:
    return getattr(app_module, {"$connect": "websocket_connect", "$default": "websocket_message",
                                "$disconnect": "websocket_disconnect"}[route])


def _page_origin() -> str:
    return get_settings().public_base_url


def test_handlers__a_page_is_kept_then_forgotten_each_call_allowed_by_its_own_role(moto_tables, sockets, calls):  # noqa: F811
    # Given a signed-in customer, and the packaged stack's roles
    desk = Desk(moto_tables)
    user = desk.account(1000)
    token = Credentials(desk.clock, 3600).issue_session(user.account_id, "198.51.100.7", "test").token
    template = packaged_dev()[1]
    refused: list[tuple[str, str, str]] = []
    replies = []
    # When their page connects, proves itself, and goes away, each handler's calls recorded
    for name, route, body in zip(WEBSOCKET_HANDLERS, ("$connect", "$default", "$disconnect"),
                                 (None, json.dumps({"action": "auth", "token": token}), None), strict=True):
        calls.clear()
        replies.append(_handler(route)(_event(route, "Rk9vYmFy=", body, _page_origin()), None))
        if route == "$default":
            kept = LiveConnection.get("Rk9vYmFy=")
        refused += [(name, action, resource) for action, resource in set(calls)
                    if not allows(template, Function(name, scheduled=False).role_id, action, resource)]
    # Then the socket was the customer's, reachable through the management API of the socket API it came through
    # (http: these are the local stage's settings; tests/deploy/ sees https on a deployed stage)
    assert [r["statusCode"] for r in replies] == [200, 200, 200]
    assert (kept.account_id, kept.endpoint) == (user.account_id, f"http://{DOMAIN}/{STAGE}")
    assert sockets.posted == [(f"http://{DOMAIN}/{STAGE}", "Rk9vYmFy=", {"type": "ready"})]
    # And it is gone after the disconnect, and no handler made a call its role would refuse
    assert list(LiveConnection.scan()) == []
    assert refused == []


def test_connect__another_sites_page_is_refused_with_403_and_nothing_kept(moto_tables, sockets):
    reply = _handler("$connect")(_event("$connect", "c1", origin="https://evil.example"), None)
    assert reply["statusCode"] == 403 and list(LiveConnection.scan()) == []


def test_handlers__a_misconfigured_stage_refuses_the_socket_with_503(moto_tables, sockets, monkeypatch):
    # Given a stage whose settings are broken (a secret missing)
    def broken() -> Any:
        raise Misconfigured([SettingError("STRIPE_SECRET_KEY", "is missing")])

    monkeypatch.setattr("chalicelib.api.settings_gate.get_settings", broken)
    # When a page connects, or sends a message
    replies = [_handler(route)(_event(route, "c1", "{}", _page_origin()), None) for route in ("$connect", "$default")]
    # Then it is refused as unavailable (the page polls, and the REST API shows the same 503), and nothing is kept
    assert [r["statusCode"] for r in replies] == [503, 503]
    assert list(LiveConnection.scan()) == [] and sockets.posted == []
