"""Live updates over moto: a socket is an account's only after its session token, pushes reach that account's pages
and no one else's, hostile messages are answered and closed without a write, silent sockets are closed, a push
that fails never fails SMS intake, and an account nobody watches costs no query."""
from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from chalicelib.config import SettingError, settings_from_env
from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.ids import sha256_hex
from chalicelib.providers.live_sockets import ConnectionGone, LiveSockets
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.platform.live_updates import AUTH_SECONDS, LiveUpdates
from chalicelib.services.platform.rate_limit import FAILED_CREDENTIALS, RateLimiter
from chalicelib.store import live as live_store
from chalicelib.store.accounts import Account
from chalicelib.store.live import Listener, LiveConnection
from tests.unit.activation_support import CODE_SMS, Desk
from tests.unit.dynamo_calls import count_dynamodb_calls

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/api"
PAGE_ORIGIN = "https://rooms.example"


class Sockets:
    """Stands in for API Gateway's management API: what was posted to which connection, which were closed; `gone`
    ones refuse, and `broken` makes every post fail as an unreachable gateway would."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, dict[str, Any]]] = []
        self.closed: list[str] = []
        self.gone: set[str] = set()
        self.broken: Exception | None = None

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        assert endpoint == ENDPOINT
        if self.broken:
            raise self.broken
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        self.posted.append((connection_id, json.loads(data)))

    def close(self, endpoint: str, connection_id: str) -> None:
        self.closed.append(connection_id)


@pytest.fixture
def sockets() -> Sockets:
    return Sockets()


def _live(desk: Desk, sockets: Sockets) -> LiveUpdates:
    return LiveUpdates(desk.clock, sockets, RateLimiter(FAILED_CREDENTIALS, desk.clock), page_origin=PAGE_ORIGIN)


def _token(desk: Desk, account: Account) -> str:
    return Credentials(desk.clock, 3600).issue_session(account.account_id, "127.0.0.1", "test").token


def _signed_in(live: LiveUpdates, desk: Desk, account: Account, connection_id: str) -> None:
    assert live.connect(connection_id, ENDPOINT, PAGE_ORIGIN)
    live.receive(connection_id, ENDPOINT, json.dumps({"action": "auth", "token": _token(desk, account)}), "::1",
                 binary=False)


def _rows() -> list[dict[str, Any]]:
    return sorted((c.attribute_values for c in LiveConnection.scan()), key=lambda r: r["connection_id"])


def test_receive__a_session_token_in_the_first_message_makes_the_socket_the_accounts(desk, sockets):
    # Given a signed-in user whose page opened a socket
    user = desk.account(1000)
    live = _live(desk, sockets)
    # When the page's first message carries the session token
    _signed_in(live, desk, user, "c1")
    # Then the socket is theirs and told so, and their account says a page may be listening
    assert LiveConnection.get("c1").account_id == user.account_id and LiveConnection.get("c1").awaiting is None
    assert sockets.posted == [("c1", {"type": "ready"})]
    assert Account.get(user.account_id).live_until > desk.clock.now()


@pytest.mark.parametrize(("body", "binary", "code"), [
    ("", False, "BAD_MESSAGE"),
    ("not json", False, "BAD_MESSAGE"),
    ("[" * 5000 + "]" * 5000, False, "BAD_MESSAGE"),  # over the size limit
    ("[" * 900 + "]" * 900, False, "BAD_MESSAGE"),  # nested, under it
    ('{"a":' * 300 + "1" + "}" * 300, False, "BAD_MESSAGE"),
    ("x" * 100_000, False, "BAD_MESSAGE"),
    ("AAEC", True, "BAD_MESSAGE"),  # a binary frame, as API Gateway hands it on (base64)
    (json.dumps({"action": "subscribe", "account_id": "acc_other"}), False, "UNKNOWN_ACTION"),
    (json.dumps(["auth"]), False, "UNKNOWN_ACTION"),
    (json.dumps({"action": "auth"}), False, "UNAUTHENTICATED"),
    (json.dumps({"action": "auth", "token": "nope"}), False, "UNAUTHENTICATED"),
    (json.dumps({"action": "auth", "token": "\ud800" * 3}), False, "UNAUTHENTICATED"),  # lone surrogates, escaped
    ('{"action": "auth", "token": "\ud800\udfff"}', False, "UNAUTHENTICATED"),  # and raw
    (json.dumps({"action": "auth", "token": "٣" * 40}), False, "UNAUTHENTICATED"),
    (json.dumps({"action": "auth", "token": 12345}), False, "UNAUTHENTICATED"),
])
def test_receive__anything_but_a_valid_auth_is_answered_closed_and_writes_nothing(desk, sockets, body, binary, code):
    # Given a socket that connected and an account that exists
    user = desk.account(1000)
    live = _live(desk, sockets)
    live.connect("c2", ENDPOINT, PAGE_ORIGIN)
    # When its message is hostile or wrong
    live.receive("c2", ENDPOINT, body, "203.0.113.9", binary=binary)
    # Then it is told why, closed, no connection is kept and no account changed
    [(connection_id, reply)] = sockets.posted
    assert (connection_id, reply["type"], reply["code"]) == ("c2", "error", code)
    assert sockets.closed == ["c2"] and _rows() == []
    assert Account.get(user.account_id).live_until is None


@pytest.mark.parametrize(("origin", "accepted"), [
    (PAGE_ORIGIN, True), (None, True), ("https://evil.example", False), ("https://rooms.example.evil.example", False),
    ("null", False), (PAGE_ORIGIN + ":443", False)])
def test_connect__a_page_of_another_origin_is_refused_and_nothing_kept(desk, sockets, origin, accepted):
    # When a socket connects with this Origin (None: not a browser, which could claim any origin)
    kept = _live(desk, sockets).connect("c3", ENDPOINT, origin)
    # Then only the dashboard's own pages (and non-browsers, who still need a token) get a socket
    assert kept is accepted
    assert [r["connection_id"] for r in _rows()] == (["c3"] if accepted else [])


def test_connect__a_stage_without_a_public_url_refuses_every_browser_page(desk, sockets):
    live = LiveUpdates(desk.clock, sockets, RateLimiter(FAILED_CREDENTIALS, desk.clock), page_origin=None)
    assert not live.connect("c4", ENDPOINT, PAGE_ORIGIN)


def test_sms__pushed_to_every_page_of_the_account_only_and_a_closed_one_forgotten(desk, sockets):
    # Given a user with two pages open, one of which closed without telling us, and another user's page
    user, activation = desk.waiting_number(1000)
    other = desk.account(1000)
    live = _live(desk, sockets)
    for connection_id in ("page-1", "page-2"):
        _signed_in(live, desk, user, connection_id)
    _signed_in(live, desk, other, "other-page")
    sockets.posted.clear()
    sockets.gone.add("page-2")
    desk.service.intake.live = live
    # When the SMS arrives
    desk.push(activation, CODE_SMS, None)
    # Then the user's open page got the code at once, the other user's page nothing, and the closed one is forgotten
    assert sockets.posted == [("page-1", {"type": "activation", "activation_id": int(activation.activation_id),
                                          "status": "RECEIVED", "code": "12345"})]
    assert [r["connection_id"] for r in _rows()] == ["other-page", "page-1"]


@pytest.mark.parametrize("ended", ["signed out everywhere", "this session signed out", "expired", "blocked"])
def test_sms__a_socket_whose_session_ended_is_closed_not_told(desk, sockets, ended):
    # Given a user watching their number, whose session then ends
    user, activation = desk.waiting_number(1000)
    live = _live(desk, sockets)
    credentials = Credentials(desk.clock, 3600)
    token = credentials.issue_session(user.account_id, "127.0.0.1", "test").token
    live.connect("page-1", ENDPOINT, PAGE_ORIGIN)
    live.receive("page-1", ENDPOINT, json.dumps({"action": "auth", "token": token}), "::1", binary=False)
    sockets.posted.clear()
    if ended == "signed out everywhere":
        desk.clock.advance(1)
        credentials.revoke_sessions(user.account_id)
    elif ended == "this session signed out":
        credentials.revoke(sha256_hex(token))
    elif ended == "expired":
        desk.clock.advance(3601)
    else:
        Account(user.account_id).update(actions=[Account.status.set(AccountStatus.BLOCKED.value)])
    desk.service.intake.live = live
    # When the SMS arrives
    desk.push(activation, CODE_SMS, None)
    # Then the code is not pushed to that socket: it is closed and forgotten
    assert sockets.posted == [] and sockets.closed == ["page-1"] and _rows() == []


@pytest.mark.parametrize("failure", [OSError("connection refused"), RuntimeError("botocore in a bad mood"),
                                     ValueError("Invalid endpoint")])
def test_sms__a_push_that_fails_never_fails_intake(desk, sockets, failure):
    # Given a user watching their number, and a management API that fails in any way
    user, activation = desk.waiting_number(1000)
    live = _live(desk, sockets)
    _signed_in(live, desk, user, "page-1")
    desk.service.intake.live = live
    sockets.broken = failure
    # When the SMS arrives
    desk.push(activation, CODE_SMS, None)
    # Then it is recorded all the same (the page's polling shows it)
    assert desk.status_of(activation) == "RECEIVED"


def test_sms__an_account_no_page_watches_costs_no_query(desk, sockets):
    # Given a user who never opened a live page
    _, activation = desk.waiting_number(1000)
    desk.service.intake.live = _live(desk, sockets)
    # When the SMS arrives
    with count_dynamodb_calls() as calls:
        desk.push(activation, CODE_SMS, None)
    # Then nothing was posted and the live connections were never read
    assert sockets.posted == [] and calls.on("live_connections") == []


def test_close_silent__a_socket_that_never_authenticates_is_closed_after_auth_seconds(desk, sockets):
    # Given a socket that connected and said nothing, one that connected just now, and a signed-in one
    user = desk.account(1000)
    live = _live(desk, sockets)
    live.connect("silent", ENDPOINT, PAGE_ORIGIN)
    desk.clock.advance(AUTH_SECONDS + 1)
    live.connect("fresh", ENDPOINT, PAGE_ORIGIN)
    _signed_in(live, desk, user, "page")
    # When the sweep runs
    closed = live.close_silent()
    # Then only the silent one is closed and forgotten
    assert (closed, sockets.closed) == (1, ["silent"])
    assert [r["connection_id"] for r in _rows()] == ["fresh", "page"]


def test_close_silent__a_socket_that_authenticated_after_the_sweep_listed_it_stays_open(desk, sockets, monkeypatch):
    # Given a socket the sweep's index still lists as silent (an index is a moment behind) that has just authenticated
    user = desk.account(1000)
    live = _live(desk, sockets)
    _signed_in(live, desk, user, "page")
    desk.clock.advance(AUTH_SECONDS + 1)
    monkeypatch.setattr(live_store, "silent_since", lambda before, limit: [Listener("page", ENDPOINT)])
    # When the sweep runs
    closed = live.close_silent()
    # Then the page's socket is neither closed nor forgotten
    assert (closed, sockets.closed) == (0, [])
    assert [r["connection_id"] for r in _rows()] == ["page"]


def test_disconnect__the_connection_is_forgotten(desk, sockets):
    user = desk.account(1000)
    live = _live(desk, sockets)
    _signed_in(live, desk, user, "page")
    live.disconnect("page")
    assert _rows() == []


def test_receive__a_socket_that_closed_while_it_authenticated_is_not_brought_back(desk, sockets):
    # Given a page whose socket connected, then closed (disconnect, or the silent-socket sweep) before its auth landed
    user = desk.account(1000)
    live = _live(desk, sockets)
    assert live.connect("gone", ENDPOINT, PAGE_ORIGIN)
    live.disconnect("gone")
    # When its auth message is handled after that
    live.receive("gone", ENDPOINT, json.dumps({"action": "auth", "token": _token(desk, user)}), "::1", binary=False)
    # Then no connection row comes back (pushes would go to a dead socket for hours), and nothing is told
    assert _rows() == [] and sockets.posted == []


def test_live_sockets__threads_pushing_at_once_share_one_client_per_endpoint(monkeypatch):
    # Given a management API whose clients take a moment to build (botocore loads its service model)
    built: list[str] = []
    started = threading.Barrier(8)

    class SlowSession:
        def create_client(self, service: str, **kwargs: Any) -> object:
            built.append(kwargs["endpoint_url"])
            threading.Event().wait(0.01)
            return object()

    monkeypatch.setattr("botocore.session.get_session", SlowSession)
    sockets = LiveSockets("us-east-1")
    got: list[object] = []

    def push() -> None:
        started.wait()
        got.append(sockets._client(ENDPOINT))

    # When eight threads push at once
    threads = [threading.Thread(target=push) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then one client was built, and every thread used it
    assert built == [ENDPOINT] and len({id(c) for c in got}) == 1


@pytest.mark.parametrize("url", ["http://example.com/api", "wss://", "wss://x.example/api?token=1", "ws://x/api"])
def test_settings__a_live_url_that_is_not_wss_is_refused_outside_local(url):
    with pytest.raises(SettingError, match="LIVE_URL"):
        settings_from_env({"STAGE": "dev", "LIVE_URL": url})


def test_settings__live_url_missing_on_a_deployed_stage_means_pages_poll(monkeypatch, moto_tables):
    # Given a deployed stage's settings without LIVE_URL
    from chalice.test import Client

    from app import app

    settings = settings_from_env({"STAGE": "dev"})
    assert settings.live_url == ""
    monkeypatch.setattr("chalicelib.api.live.get_settings", lambda: settings)
    # When a signed-in page asks where to open its socket
    desk = Desk(moto_tables)
    user = desk.account(1000)
    with Client(app) as client:
        reply = client.http.get("/v1/live", headers={"Authorization": f"Bearer {_token(desk, user)}"})
    # Then it is told there is none (it polls), not an error
    assert (reply.status_code, json.loads(reply.body)) == (200, {"url": None})
