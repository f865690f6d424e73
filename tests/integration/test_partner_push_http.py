"""Partner pushes over real HTTP: each partner signs with its own secret and a timestamp; a push for another
partner, a replay outside the window and a rotated-out secret are refused, and the simulator's pushes land.

The session stack's app knows only its own partner, so this module runs a second app (tests/support.py
second_app) whose PARTNERS_JSON names two simulators: `alpha`, mid-rotation (a current and a previous secret),
and `beta`. That app runs no scheduler, so a code it shows came from the push alone.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from chalicelib.config import settings_from_env
from chalicelib.domain.ids import new_id
from chalicelib.domain.push_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, push_signature
from infra.local.simulator.server import SimulatorHandle, start_simulator
from infra.local.stack import Stack
from tests.support import customer_with_key, second_app, wait_until

pytestmark = pytest.mark.integration

ALPHA_SECRET, ALPHA_PREVIOUS, ALPHA_RETIRED, BETA_SECRET = "alpha-2", "alpha-1", "alpha-0", "beta-1"
WINDOW_SECONDS = 300  # PARTNER_PUSH_TOLERANCE_SECONDS' default


@dataclass
class PushApp:
    url: str
    alpha: str
    beta: str
    alpha_sim: SimulatorHandle

    def push_url(self, partner: str) -> str:
        return f"{self.url}/v1/partners/{partner}/push"


@pytest.fixture(scope="module")
def app(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushApp]:
    alpha, beta = new_id("alpha"), new_id("beta")
    alpha_sim, beta_sim = start_simulator(sms_delay_seconds=3600), start_simulator(sms_delay_seconds=3600)
    partners = [{"name": alpha, "base_url": alpha_sim.url, "api_key": "sim-key", "push_secret": ALPHA_SECRET,
                 "push_secret_previous": ALPHA_PREVIOUS},
                {"name": beta, "base_url": beta_sim.url, "api_key": "sim-key", "push_secret": BETA_SECRET,
                 "priority": -1}]
    try:
        with second_app(stack, partners, tmp_path_factory.mktemp("push-app") / "app.log") as url:
            yield PushApp(url, alpha, beta, alpha_sim)
    finally:
        alpha_sim.stop()
        beta_sim.stop()


def _push(url: str, secret: str, body: bytes, timestamp: int | None = None) -> requests.Response:
    at = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(at),
               SIGNATURE_HEADER: push_signature(secret, at, body)}
    return requests.post(url, data=body, headers=headers, timeout=30)


def _unknown_sms() -> bytes:
    """A well-formed push for an activation nobody has: a trusted push of it answers 404, a refused one 401."""
    return json.dumps({"activationId": 987654321, "phone": "12015550123", "text": "Your code is 4821",
                       "code": "4821", "receivedAt": "2026-01-01 00:00:00"}).encode()


def test_partner_push__the_simulators_signed_push_shows_the_code(app: PushApp, stack: Stack) -> None:
    # Given a customer whose number comes from alpha, which pushes each SMS to the app signed with its secret
    bearer = {"Authorization": f"Bearer {customer_with_key(settings_from_env(stack.env()), 1000).api_key}"}
    requests.post(f"{app.alpha_sim.url}/_sim/config", json={"push_url": app.push_url(app.alpha),
                                                             "push_secret": ALPHA_SECRET}, timeout=5).raise_for_status()
    ordered = requests.post(f"{app.url}/v1/activations", json={"service": "tg", "country": 0}, headers=bearer,
                            timeout=30)
    assert ordered.status_code == 201, ordered.text
    # When the SMS reaches alpha
    requests.post(f"{app.alpha_sim.url}/_sim/deliver", json={"phone": ordered.json()["phone"],
                                                            "text": "Your Telegram code is 48213"}, timeout=5)

    # Then the customer sees the code, brought by the push (this app polls nobody)
    def shown() -> dict[str, object]:
        return dict(requests.get(f"{app.url}/v1/activations/{ordered.json()['id']}", headers=bearer,
                                 timeout=30).json())

    assert wait_until(lambda: shown()["status"] == "RECEIVED")
    assert [s["code"] for s in shown()["sms"]] == ["48213"]  # type: ignore[attr-defined]


def test_partner_push__a_signature_for_another_partner_is_refused(app: PushApp) -> None:
    # Given a push correctly signed by alpha
    body = _unknown_sms()
    # When it is sent as alpha, and as beta
    as_alpha = _push(app.push_url(app.alpha), ALPHA_SECRET, body)
    as_beta = _push(app.push_url(app.beta), ALPHA_SECRET, body)
    as_stranger = _push(app.push_url("nobody"), ALPHA_SECRET, body)
    # Then alpha's is trusted (and finds no such activation) while beta and an unknown partner refuse it
    assert as_alpha.status_code == 404
    assert [(r.status_code, r.json()["error"]["code"]) for r in (as_beta, as_stranger)] == [
        (401, "BAD_SIGNATURE"), (401, "BAD_SIGNATURE")]


def test_partner_push__a_replay_outside_the_window_is_refused(app: PushApp) -> None:
    # Given a push alpha signed more than the window ago (captured and replayed), and one from the future
    body, now = _unknown_sms(), int(time.time())
    # When they arrive
    replayed = _push(app.push_url(app.alpha), ALPHA_SECRET, body, now - WINDOW_SECONDS - 30)
    early = _push(app.push_url(app.alpha), ALPHA_SECRET, body, now + WINDOW_SECONDS + 30)
    in_window = _push(app.push_url(app.alpha), ALPHA_SECRET, body, now - 60)
    # Then both outside the window are refused; one a minute old is trusted
    assert (replayed.status_code, early.status_code, in_window.status_code) == (401, 401, 404)


def test_partner_push__a_retimed_replay_does_not_match_its_signature(app: PushApp) -> None:
    # Given an old push whose timestamp header an attacker refreshes, keeping the captured signature
    body, old = _unknown_sms(), int(time.time()) - WINDOW_SECONDS - 30
    captured = push_signature(ALPHA_SECRET, old, body)
    # When it is replayed with a current timestamp
    reply = requests.post(app.push_url(app.alpha), data=body, timeout=30, headers={
        TIMESTAMP_HEADER: str(int(time.time())), SIGNATURE_HEADER: captured})
    # Then it is refused: the timestamp is part of what was signed
    assert reply.status_code == 401


def test_partner_push__rotation_accepts_the_previous_secret_and_refuses_a_retired_one(app: PushApp) -> None:
    # Given alpha mid-rotation (current and previous secrets configured; the one before them removed)
    body = _unknown_sms()
    # When pushes signed with each arrive
    replies = [_push(app.push_url(app.alpha), secret, body).status_code
               for secret in (ALPHA_SECRET, ALPHA_PREVIOUS, ALPHA_RETIRED)]
    # Then the current and previous are trusted, the retired one refused
    assert replies == [404, 404, 401]


def test_partner_push__unsigned_or_malformed_headers_are_refused(app: PushApp) -> None:
    body = _unknown_sms()
    now = str(int(time.time()))
    good = push_signature(ALPHA_SECRET, int(now), body)
    variants = [{}, {SIGNATURE_HEADER: good}, {TIMESTAMP_HEADER: now},
                {TIMESTAMP_HEADER: "²" + now[1:], SIGNATURE_HEADER: good},
                {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: good.upper() + "00"}]
    statuses = [requests.post(app.push_url(app.alpha), data=body, headers=h, timeout=30).status_code
                for h in variants]
    assert statuses == [401] * len(variants)
