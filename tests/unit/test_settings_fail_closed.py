"""A deployed stage fails closed: a missing or published secret refuses every event; rotation needs no cold start."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client

import app as app_module
from chalicelib import config, wiring
from chalicelib.config import LOCAL_VALUES, Misconfigured, SettingsSource
from chalicelib.domain.push_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, push_signature

PREFIX = "/sms-rooms/prod/"


def _token(n: int = 24) -> str:
    return secrets.token_hex(n)


def real_secrets() -> dict[str, str]:
    """Values of the right shape that appear nowhere in the repository."""
    return {
        "STRIPE_SECRET_KEY": "sk_live_" + _token(),
        "STRIPE_PUBLISHABLE_KEY": "pk_live_" + _token(),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + _token(),
        "PARTNERS_JSON": json.dumps([{"name": "sim", "base_url": "https://partner.example/stubs/handler_api.php",
                                      "api_key": _token(), "push_secret": _token()}]),
    }


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Deployed:
    """A prod Lambda's environment over moto's SSM, with a clock we move for the secrets' TTL."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ssm = boto3.client("ssm", region_name="us-east-1")
        self.clock = Clock()
        self.monkeypatch = monkeypatch
        for name, value in {"STAGE": "prod", "SECRETS_PARAMETER_PREFIX": PREFIX, "AWS_LAMBDA_FUNCTION_NAME": "f",
                            "PUBLIC_BASE_URL": "https://sms.example.com", "MAIL_FROM": "SMS Rooms <no-reply@ex.com>",
                            "SUPPORT_EMAIL": "support@ex.com", "SECRETS_TTL_SECONDS": "60"}.items():
            monkeypatch.setenv(name, value)

    def put(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self.ssm.put_parameter(Name=PREFIX + name, Value=value, Type="SecureString", Overwrite=True)

    def cold_start(self) -> None:
        import os

        config.use_settings_source(SettingsSource(os.environ, now=self.clock))


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, _moto: Any) -> Iterator[Deployed]:
    _moto.reset()
    stage = Deployed(monkeypatch)
    previous = config.use_settings_source(None)
    yield stage
    config.use_settings_source(previous)


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(app_module.app) as c:
        yield c


def stripe_signed(body: bytes, secret: str) -> dict[str, str]:
    t = int(time.time())
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={v1}", "Content-Type": "application/json"}


# An unfinished 3-D Secure top-up's success: what the forger of issue 13 sent to be credited 50,000 ¢.
CREDIT = json.dumps({"id": "evt_forged", "object": "event", "type": "payment_intent.succeeded", "created": 1,
                     "data": {"object": {"id": "pi_forged", "amount": 50_000, "status": "succeeded",
                                         "metadata": {"topup_id": "top_x"}}}}).encode()
PING = json.dumps({"id": "evt_ping", "object": "event", "type": "customer.created", "created": 1,
                   "data": {"object": {"id": "cus_1"}}}).encode()


def test_health__a_missing_secret_answers_503_misconfigured(deployed: Deployed, client: Client,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    # Given a prod container whose SSM lacks the webhook secret, the others being real
    values = real_secrets()
    del values["STRIPE_WEBHOOK_SECRET"]
    deployed.put(values)
    deployed.cold_start()
    # When a load balancer asks for health
    answer = client.http.get("/health")
    # Then it is refused as misconfigured, without saying which setting to the public
    assert answer.status_code == 503
    assert answer.json_body["error"]["code"] == "MISCONFIGURED"
    assert "STRIPE_WEBHOOK_SECRET" not in answer.body.decode()
    # And the log has one line naming the setting and none of the values
    refusals = [r for r in caplog.records if hasattr(r, "misconfigured_settings")]
    assert [r.misconfigured_settings for r in refusals] == [["STRIPE_WEBHOOK_SECRET"]]
    assert "STRIPE_WEBHOOK_SECRET is missing" in refusals[0].getMessage()
    assert not [name for name, value in values.items() if value in caplog.text]


def test_health__every_secret_real_answers_ok(deployed: Deployed, client: Client) -> None:
    # Given a prod container with every secret real
    deployed.put(real_secrets())
    deployed.cold_start()
    # When health is asked / Then it is served
    assert client.http.get("/health").status_code == 200


def test_stripe_webhook__forged_with_the_local_secret_is_refused_when_the_secret_is_missing(
        deployed: Deployed, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given prod without its Stripe webhook secret, and a spy where events would be applied
    values = real_secrets()
    del values["STRIPE_WEBHOOK_SECRET"]
    deployed.put(values)
    deployed.cold_start()
    applied: list[str] = []
    monkeypatch.setattr(wiring, "stripe_events", lambda: applied.append("stripe_events"))
    # When a success event for 50,000 ¢ arrives signed with the repo's whsec_local
    answer = client.http.post("/v1/webhooks/stripe", body=CREDIT,
                              headers=stripe_signed(CREDIT, LOCAL_VALUES["STRIPE_WEBHOOK_SECRET"]))
    # Then it is refused before any event handling (Stripe will retry it once the secret is fixed)
    assert answer.status_code == 503
    assert answer.json_body["error"]["code"] == "MISCONFIGURED"
    assert applied == []


@pytest.mark.parametrize("stored", ["", "   ", "whsec_local", "WHSEC_LOCAL", " whsec_local\n", "Whsec_Local"])
def test_stripe_webhook__a_blank_or_published_secret_in_ssm_refuses_the_forgery(
        deployed: Deployed, client: Client, stored: str) -> None:
    # Given prod whose webhook-secret parameter holds a blank or the published value in any case
    values = real_secrets()
    deployed.put({**values, "STRIPE_WEBHOOK_SECRET": stored or " "})
    deployed.cold_start()
    # When the forged success event arrives signed with whsec_local
    answer = client.http.post("/v1/webhooks/stripe", body=CREDIT, headers=stripe_signed(CREDIT, "whsec_local"))
    # Then it is refused as misconfigured
    assert (answer.status_code, answer.json_body["error"]["code"]) == (503, "MISCONFIGURED")


def test_partner_push__signed_with_the_simulator_secret_is_refused_when_prod_configures_it(
        deployed: Deployed, client: Client) -> None:
    # Given prod whose partner "sim" was given the repo's published push secret
    values = real_secrets()
    values["PARTNERS_JSON"] = json.dumps([{"name": "sim", "base_url": "https://partner.example/h",
                                           "api_key": _token(), "push_secret": "sim-push-secret"}])
    deployed.put(values)
    deployed.cold_start()
    body = json.dumps({"activationId": "1", "text": "Your code is 12345", "code": "12345"}).encode()
    # When a push signed with that secret arrives
    now = int(time.time())
    answer = client.http.post("/v1/partners/sim/push", body=body, headers={
        TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: push_signature("sim-push-secret", now, body),
        "Content-Type": "application/json"})
    # Then it is refused
    assert (answer.status_code, answer.json_body["error"]["code"]) == (503, "MISCONFIGURED")


def test_stripe_webhook__a_rotated_secret_replaces_the_old_one_within_the_ttl(deployed: Deployed,
                                                                                client: Client) -> None:
    # Given a warm prod container that accepts events signed with secret X
    values = real_secrets()
    old, new = values["STRIPE_WEBHOOK_SECRET"], "whsec_" + _token()
    deployed.put(values)
    deployed.cold_start()
    assert client.http.post("/v1/webhooks/stripe", body=PING, headers=stripe_signed(PING, old)).status_code == 200
    # When the operator rotates the secret in SSM to Y
    deployed.put({"STRIPE_WEBHOOK_SECRET": new})
    deployed.clock.t += 59  # still inside SECRETS_TTL_SECONDS=60
    still_old = client.http.post("/v1/webhooks/stripe", body=PING, headers=stripe_signed(PING, old)).status_code
    deployed.clock.t += 2  # the TTL has passed
    # Then X is refused and Y accepted, in the same container
    after_old = client.http.post("/v1/webhooks/stripe", body=PING, headers=stripe_signed(PING, old))
    after_new = client.http.post("/v1/webhooks/stripe", body=PING, headers=stripe_signed(PING, new))
    assert still_old == 200
    assert (after_old.status_code, after_old.json_body["error"]["code"]) == (400, "BAD_SIGNATURE")
    assert after_new.status_code == 200


def test_settings__a_secret_removed_from_ssm_refuses_after_the_ttl(deployed: Deployed, client: Client) -> None:
    # Given a warm prod container serving with every secret
    deployed.put(real_secrets())
    deployed.cold_start()
    assert client.http.get("/health").status_code == 200
    # When the Stripe webhook secret's parameter is deleted and the TTL passes
    deployed.ssm.delete_parameter(Name=PREFIX + "STRIPE_WEBHOOK_SECRET")
    deployed.clock.t += 61
    # Then the container refuses
    assert client.http.get("/health").status_code == 503


def test_settings__ssm_unreadable_at_cold_start_refuses_and_later_keeps_the_last_good_secrets(
        deployed: Deployed) -> None:
    import os

    # Given a source whose SSM read fails on the first call, then works, then fails again
    values = real_secrets()
    replies: list[Any] = [PermissionError("AccessDenied"), values, RuntimeError("Throttling")]

    def read(prefix: str, region: str) -> dict[str, str]:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return dict(reply)

    source = SettingsSource(os.environ, read_secrets=read, now=deployed.clock)
    # When it is asked at cold start / Then it refuses, naming where the secrets live
    with pytest.raises(Misconfigured, match="SECRETS_PARAMETER_PREFIX could not be read"):
        source.current()
    # When SSM answers (after the short retry) / Then the secrets are used
    deployed.clock.t += 16
    good = source.current()
    assert good.stripe_webhook_secret == values["STRIPE_WEBHOOK_SECRET"]
    # When a later re-read fails / Then the last good secrets stay in use
    deployed.clock.t += 61
    assert source.current() is good


def test_scheduled_job__refuses_with_a_clear_error_when_misconfigured(deployed: Deployed) -> None:
    # Given prod with no secrets at all
    deployed.cold_start()
    # When EventBridge runs a schedule / Then the run fails naming every missing setting
    event = {"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "1", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}
    with pytest.raises(Misconfigured) as refused:
        app_module.expire_overdue_activations(event, None)
    assert {p.setting for p in refused.value.problems} >= {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                                                           "PARTNERS_JSON"}


def test_admin_lambda__answers_misconfigured_naming_the_settings(deployed: Deployed) -> None:
    # Given prod with every secret but the Stripe secret key
    values = real_secrets()
    del values["STRIPE_SECRET_KEY"]
    deployed.put(values)
    deployed.cold_start()
    # When an operator runs a command through the admin Lambda
    answer = app_module.admin({"command": "reconcile", "args": {}, "actor": "ops"}, None)
    # Then the error shape bin/admin prints names the setting
    assert answer["error"]["code"] == "MISCONFIGURED"
    assert answer["error"]["details"] == {"settings": ["STRIPE_SECRET_KEY"]}


def test_import__a_deployed_app_imports_without_reaching_ssm(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    # Given a prod Lambda's environment whose SSM is a closed port (chalice package imports the app offline)
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": os.environ.get("PATH", ""), "STAGE": "prod", "SECRETS_PARAMETER_PREFIX": PREFIX,
           "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    # When the app module is imported, Then it loads without a call (secrets come with the first event)
    done = subprocess.run([sys.executable, "-c", "import app"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ssm" not in done.stderr.lower()


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/static/app.js"), ("GET", "/v1/agreement"), ("GET", "/v1/catalog"),
    ("POST", "/v1/auth/login"), ("GET", "/stubs/handler_api.php?api_key=k&action=getBalance"),
    ("GET", "/5sim/v1/guest/countries"), ("POST", "/v1/partners/bank/smshub"),
])
def test_every_kind_of_route__refuses_while_misconfigured(deployed: Deployed, client: Client, method: str,
                                                          path: str) -> None:
    # Given prod with every secret but one
    values = real_secrets()
    del values["STRIPE_SECRET_KEY"]
    deployed.put(values)
    deployed.cold_start()
    # When the dashboard, REST, the handler and 5sim APIs or an agent's push is called
    answer = client.http.request(method, path, headers={"Content-Type": "application/json"}, body=b"{}")
    # Then each is refused the same way
    assert (answer.status_code, answer.json_body["error"]["code"]) == (503, "MISCONFIGURED")
