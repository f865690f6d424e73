"""Around every route: nosniff on every reply, no-store on every personal or authenticated reply, HSTS when deployed,
and no credential in any log line."""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import wiring
from chalicelib.api import middleware
from chalicelib.config import Settings
from chalicelib.observability import logger, redact
from chalicelib.services.accounts.sessions import Credentials
from tests.support import customer_with_key

API_KEY = "smsr_" + "k" * 43
WEBHOOK_SECRET = "_".join(["whsec", "0123456789abcdef0123"])  # built here: test_config refuses published literals


@pytest.fixture
def client(module_tables: Settings) -> Iterator[Client]:
    with Client(app) as test_client:
        yield test_client


def _key(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {customer_with_key(settings, 100).api_key}"}


@pytest.mark.parametrize("path", ["/v1/me", "/v1/ledger", "/v1/activations", "/v1/payments", "/v1/activity",
                                  "/v1/api-keys", "/v1/support/tickets", "/5sim/v1/user/profile",
                                  "/5sim/v1/user/orders"])
def test_personal_reply__is_no_store_and_nosniff(client: Client, module_tables: Settings, path: str):
    # When a signed-in client reads its own data
    reply = client.http.get(path, headers=_key(module_tables))
    # Then no cache may keep it and no browser may guess its type
    assert reply.status_code == 200, reply.body
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


def test_handler_api_reply__is_no_store_and_nosniff(client: Client, module_tables: Settings):
    key = customer_with_key(module_tables, 100).api_key
    reply = client.http.get(f"/stubs/handler_api.php?api_key={key}&action=getBalance")
    assert reply.body == b"ACCESS_BALANCE:1.00"
    assert (reply.headers["Cache-Control"], reply.headers["X-Content-Type-Options"]) == ("no-store", "nosniff")


def test_refusals__are_no_store_and_nosniff_too(client: Client):
    # A 401, a 422 and a 404 carry the same headers as an answer
    for reply in (client.http.get("/v1/me"), client.http.get("/v1/catalog?country=%C2%B2"),
                  client.http.get("/v1/agreement/nope")):
        assert reply.status_code in (401, 404, 422)
        assert (reply.headers["Cache-Control"], reply.headers["X-Content-Type-Options"]) == ("no-store", "nosniff")


def test_public_catalog__keeps_its_public_caching_unless_a_credential_is_sent(client: Client, module_tables: Settings):
    anonymous = client.http.get("/v1/services")
    with_key = client.http.get("/v1/services", headers=_key(module_tables))
    assert anonymous.headers["Cache-Control"] == "public, max-age=30"
    assert with_key.headers["Cache-Control"] == "no-store"
    assert anonymous.headers["X-Content-Type-Options"] == with_key.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts__sent_outside_the_local_stage_only(client: Client, module_tables: Settings, monkeypatch):
    monkeypatch.setattr(middleware, "get_environment_settings", lambda: replace(module_tables, stage="local"))
    local = client.http.get("/health")
    monkeypatch.setattr(middleware, "get_environment_settings", lambda: replace(module_tables, stage="prod"))
    deployed = client.http.get("/health")
    assert "Strict-Transport-Security" not in local.headers
    assert deployed.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("line", [
    f'127.0.0.1 - - [05/Dec/2026 01:25:08] "GET /stubs/handler_api.php?api_key={API_KEY}&action=getBalance HTTP/1.1"',
    f'GET /v1/x?token=abcDEF123_-xyz&password=hunter2hunter2&client_secret=pi_1_secret_2 {API_KEY}',
    '{"password": "hunter2hunter2", "token":"abcDEF123_-xyzabcDEF"}',
    "Authorization: Bearer abcDEF123_-xyzabcDEF123_-xyz",
    "{'api_key': 'plain-secret-value', 'secret': '" + WEBHOOK_SECRET + "'}",
    "https://app.example/reset/abcDEF123_-xyzabcDEF123 and /verify-email/abcDEF123_-xyzabcDEF123",
])
def test_redact__no_credential_survives(line: str):
    redacted = redact(line)
    for secret in (API_KEY, "abcDEF123_-xyz", "hunter2hunter2", "pi_1_secret_2", "plain-secret-value",
                   "0123456789abcdef0123"):
        assert secret not in redacted
    assert "[redacted]" in redacted


@pytest.fixture
def live_logger() -> Iterator[None]:
    """The service's logger enabled at INFO for this test: an earlier test that configures logging (a library's
    dictConfig disables existing loggers) must not make the assertions below look at nothing."""
    inner = logger._logger  # type: ignore[attr-defined]
    disabled, level = inner.disabled, inner.level
    inner.disabled = False
    inner.setLevel("INFO")
    yield
    inner.disabled = disabled
    inner.setLevel(level)


def test_logger__credentials_in_messages_extra_keys_and_traces_are_redacted(module_tables: Settings, live_logger):
    # Given the service's logger writing to a buffer
    out = io.StringIO()
    logger.registered_handler.setStream(out)  # type: ignore[attr-defined]
    token = Credentials.__name__ + "-tok-0123456789abcdef"
    try:
        # When a line carries a key in its message, a password and a token in its extra keys, and a trace
        logger.info(f"GET /stubs/handler_api.php?api_key={API_KEY}", extra={"password": "hunter2hunter2",
                                                                            "headers": {"Authorization": token}})
        try:
            raise ValueError(f"bad login {{'password': 'hunter2hunter2'}} with {API_KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.registered_handler.setStream(__import__("sys").stdout)  # type: ignore[attr-defined]
    # Then none of them was written, and the lines are still JSON
    written = out.getvalue()
    assert written.count("\n") == 2  # both lines were written (redacted), not swallowed
    assert API_KEY not in written and "hunter2hunter2" not in written and token not in written
    assert all(json.loads(line) for line in written.splitlines())


def test_logger__a_lone_surrogate_in_a_logged_value_is_written_escaped_not_an_encoding_error(module_tables,
                                                                                            live_logger):
    # Given the logger writing to a UTF-8 byte stream, as a process's stdout does
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        # When a value from a client holds an unpaired surrogate
        logger.info("stripe event", extra={"stripe_event_type": "payment\ud800"})
        written = raw.getvalue()
    finally:
        logger.registered_handler.setStream(__import__("sys").stdout)  # type: ignore[attr-defined]
    # Then the line is written as UTF-8, the surrogate as its JSON escape
    assert b"payment\\ud800" in written
    assert json.loads(written.decode("utf-8"))["message"] == "stripe event"


class _Broken:
    """The activations facade of a container whose code failed, or whose table answered an outage."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def price_list(self, *_: object, **__: object) -> None:
        raise self.error


def _throttled() -> Exception:
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import QueryError

    cause = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "Query")
    return QueryError("Failed to query items: slow down", cause)


def test_unexpected_error__is_a_500_in_the_envelope_with_the_request_id_and_no_internals(
        client: Client, monkeypatch: pytest.MonkeyPatch):
    # Given a route whose code fails in a way nobody planned for (its message names an internal detail)
    monkeypatch.setattr(wiring, "activations", lambda: _Broken(KeyError("table smsrooms-prod-offers row 17")))
    # When a client calls it
    reply = client.http.get("/v1/catalog")
    # Then it gets our error envelope, the request id to quote, the usual headers, and nothing of the internals
    assert reply.status_code == 500
    error = json.loads(reply.body)["error"]
    assert error["code"] == "INTERNAL_ERROR"
    assert reply.headers["X-Request-Id"] in error["message"]
    assert "smsrooms" not in reply.body.decode() and "KeyError" not in reply.body.decode()
    assert (reply.headers["Cache-Control"], reply.headers["X-Content-Type-Options"]) == ("no-store", "nosniff")


def test_table_outage__is_a_503_to_retry_in_the_envelope(client: Client, monkeypatch: pytest.MonkeyPatch):
    # Given a route whose table is throttled past the SDK's own retries
    monkeypatch.setattr(wiring, "activations", lambda: _Broken(_throttled()))
    # When a client calls it
    reply = client.http.get("/v1/catalog")
    # Then it is told to try again shortly, in the envelope, without the table's words
    assert reply.status_code == 503
    assert json.loads(reply.body)["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert reply.headers["Retry-After"] == "1"
    assert "slow down" not in reply.body.decode()
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


def _fails(error: Exception) -> Callable[..., Any]:
    def fail(*_: object, **__: object) -> Any:
        raise error

    return fail


def test_unexpected_error_of_a_plain_route__is_our_500_too(client: Client, monkeypatch: pytest.MonkeyPatch):
    # Given a route outside the REST kit (the agreement link of emails) whose code fails
    from chalicelib.api import system

    monkeypatch.setattr(system, "_VERSION", SimpleNamespace(fullmatch=_fails(ValueError("internal detail"))))
    # When a client follows the link
    reply = client.http.get("/agreement/2")
    # Then Chalice's own body is replaced by our envelope with the request id
    assert reply.status_code == 500
    assert json.loads(reply.body)["error"]["code"] == "INTERNAL_ERROR"
    assert reply.headers["X-Request-Id"] in json.loads(reply.body)["error"]["message"]


def test_table_outage_in_the_maintenance_gate__is_a_503_to_retry(client: Client, monkeypatch: pytest.MonkeyPatch):
    # Given the maintenance switch's table throttled, before any route runs
    monkeypatch.setattr(middleware.runtime_settings, "maintenance", _fails(_throttled()))
    # When a client calls a route behind the gate
    reply = client.http.get("/v1/catalog")
    # Then it is told to try again shortly, in the envelope
    assert reply.status_code == 503
    assert json.loads(reply.body)["error"]["code"] == "SERVICE_UNAVAILABLE"
