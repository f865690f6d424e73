"""No password, token, API key or webhook secret a user was given or chose reaches any log the stack writes: the app's
Powertools lines, the local server's access log (where the handler API's `api_key` query parameter lands), the
scheduler's and the simulators'."""
from __future__ import annotations

import pytest

from chalicelib.domain.ids import new_id
from infra.local.stack import Stack
from tests.integration.helpers_security import bearer, current_agreement_version, link_token
from tests.support import client_at

pytestmark = pytest.mark.integration

FIRST_PASSWORD = "quartz-meadow-" + new_id("pw")
SECOND_PASSWORD = "amber-violin-" + new_id("pw")


def test_logs__a_whole_account_journey_leaves_no_credential_in_any_log(stack: Stack) -> None:
    http = client_at("127.0.0.81")  # its own sign-in budget
    url, email = stack.app_url, f"{new_id('logs')}@example.com"
    secrets: dict[str, str] = {"first password": FIRST_PASSWORD, "second password": SECOND_PASSWORD}
    # Given a person who registers, confirms the emailed link and signs in
    http.post(f"{url}/v1/auth/register", timeout=30, json={
        "email": email, "password": FIRST_PASSWORD, "agreement_version": current_agreement_version(url)})
    secrets["verification token"] = link_token(stack.outbox, email)
    assert http.post(f"{url}/v1/auth/verify", json={"token": secrets["verification token"]}, timeout=30).ok
    secrets["session"] = http.post(f"{url}/v1/auth/login", json={"email": email, "password": FIRST_PASSWORD},
                                   timeout=30).json()["token"]
    session = bearer(secrets["session"])
    # When they create an API key and use it on every surface, the way bots send it (query string, form, header)
    secrets["api key"] = http.post(f"{url}/v1/api-keys", json={"label": "bot"}, headers=session,
                                   timeout=30).json()["api_key"]
    handler = f"{url}/stubs/handler_api.php"
    assert http.get(handler, params={"api_key": secrets["api key"], "action": "getBalance"}, timeout=30).ok
    assert http.post(handler, params={"api_key": secrets["api key"], "action": "getStatus", "id": "1"}, timeout=30).ok
    assert http.post(handler, data={"api_key": secrets["api key"], "action": "getBalance"}, timeout=30).ok
    assert http.get(f"{url}/5sim/v1/user/profile", headers=bearer(secrets["api key"]), timeout=30).ok
    assert http.get(f"{url}/v1/me", headers=bearer(secrets["api key"]), timeout=30).ok
    # And set a webhook (its secret is theirs), mistype their password, forget it and reset it
    secrets["webhook secret"] = http.put(f"{url}/v1/webhook", json={"url": "https://example.invalid/hook"},
                                         headers=session, timeout=30).json()["secret"]
    http.post(f"{url}/v1/auth/login", json={"email": email, "password": SECOND_PASSWORD}, timeout=30)
    http.post(f"{url}/v1/auth/forgot-password", json={"email": email}, timeout=30)
    secrets["reset token"] = link_token(stack.outbox, email, subject="password")
    assert http.post(f"{url}/v1/auth/reset-password", timeout=30,
                     json={"token": secrets["reset token"], "password": SECOND_PASSWORD}).ok
    # (a used reset link tried again, and a key used after the reset, are logged refusals)
    http.post(f"{url}/v1/auth/reset-password", json={"token": secrets["reset token"], "password": SECOND_PASSWORD},
              timeout=30)
    http.get(handler, params={"api_key": secrets["api key"] + "x", "action": "getBalance"}, timeout=30)
    secrets["second session"] = http.post(f"{url}/v1/auth/login", json={"email": email, "password": SECOND_PASSWORD},
                                          timeout=30).json()["token"]
    http.get(f"{url}/v1/me", headers=bearer(secrets["second session"]), timeout=30)
    # Then no log file of the stack holds any of them
    logs = {path.name: path.read_text(errors="replace") for path in (stack.data_dir / "logs").glob("*.log")}
    assert "app.log" in logs and "/stubs/handler_api.php" in logs["app.log"]  # the access log is in it
    leaked = [f"{what} in {name}" for what, secret in secrets.items() for name, text in logs.items() if secret in text]
    assert not leaked, leaked
