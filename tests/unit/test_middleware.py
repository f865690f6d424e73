"""Around every route: nosniff on every reply, no-store on every personal or authenticated reply, HSTS when deployed,
and no credential in any log line."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from chalice.test import Client

from app import app
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
