"""Two-factor sign-in over real HTTP on the local stack: turn it on, sign in with a code, replay, recovery codes.

Codes come from pyotp at the real time. A code works once per 30-second step and the next step's code is
already accepted (one step of drift), so a journey uses `code(secret, steps_ahead=1)` instead of waiting."""
from __future__ import annotations

import time

import pyotp
import pytest
import requests

from infra.local.stack import Stack
from tests.integration.helpers_security import Member, bearer, sign_up

pytestmark = pytest.mark.integration


def code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _post(stack: Stack, path: str, body: dict[str, object] | None = None,
          auth: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{stack.app_url}{path}", json=body or {}, headers=auth or {}, timeout=30)


def _turn_on(stack: Stack, member: Member) -> tuple[str, list[str]]:
    setup = _post(stack, "/v1/account/two-factor/setup", auth=member.auth)
    assert setup.status_code == 201 and setup.headers["Cache-Control"] == "no-store"
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/")
    enabled = _post(stack, "/v1/account/two-factor/enable",
                    {"otp_code": code(secret), "current_password": member.password}, member.auth)
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["recovery_codes"]


def _login(stack: Stack, member: Member) -> requests.Response:
    return _post(stack, "/v1/auth/login", {"email": member.email, "password": member.password})


def test_two_factor__on_then_sign_in_needs_the_code_and_a_recovery_code_works_once(stack):
    # Given a member who turns two-factor on in her session
    member = sign_up(stack.app_url, stack.outbox)
    secret, recovery = _turn_on(stack, member)
    status = requests.get(f"{stack.app_url}/v1/account/two-factor", headers=member.auth, timeout=30).json()
    assert status == {"enabled": True, "recovery_codes_left": 10} and len(recovery) == 10
    # When she signs in with her password
    challenge = _login(stack, member)
    # Then there is no session, only a challenge
    assert challenge.status_code == 200 and challenge.json()["mfa_required"] is True
    assert "token" not in challenge.json()
    mfa_token = challenge.json()["mfa_token"]
    # When a wrong code is sent, then the right one (next step: the enabling code's step is spent)
    wrong = _post(stack, "/v1/auth/login/mfa", {"mfa_token": mfa_token, "code": "000000"})
    right = _post(stack, "/v1/auth/login/mfa", {"mfa_token": mfa_token, "code": code(secret, 1)})
    # Then the wrong one is 401 MFA_FAILED, the right one gives a working session
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "MFA_FAILED")
    assert right.status_code == 200, right.text
    assert requests.get(f"{stack.app_url}/v1/me", headers=bearer(right.json()["token"]), timeout=30).status_code == 200
    # And the same code replayed on a new challenge is refused like a made-up challenge
    replay = _post(stack, "/v1/auth/login/mfa", {"mfa_token": _login(stack, member).json()["mfa_token"],
                                                 "code": code(secret, 1)})
    made_up = _post(stack, "/v1/auth/login/mfa", {"mfa_token": "x" * 32, "code": code(secret, 1)})
    assert (replay.status_code, replay.json()) == (made_up.status_code, made_up.json())
    assert replay.status_code == 401
    # When she uses a recovery code twice
    first = _post(stack, "/v1/auth/login/mfa", {"mfa_token": _login(stack, member).json()["mfa_token"],
                                                "code": recovery[0]})
    again = _post(stack, "/v1/auth/login/mfa", {"mfa_token": _login(stack, member).json()["mfa_token"],
                                                "code": recovery[0]})
    # Then it worked once
    assert (first.status_code, again.status_code) == (200, 401)


def test_two_factor__security_changes_need_a_current_code(stack):
    # Given a member with two-factor on
    member = sign_up(stack.app_url, stack.outbox)
    secret, recovery = _turn_on(stack, member)
    url = stack.app_url
    # When she changes the webhook, makes an account key, and turns two-factor off without a code
    webhook = requests.put(f"{url}/v1/webhook", json={"url": "https://bot.example.com/sms"}, headers=member.auth,
                           timeout=30)
    key = _post(stack, "/v1/api-keys", {"scopes": ["account"]}, member.auth)
    off = _post(stack, "/v1/account/two-factor/disable", {}, member.auth)
    password = _post(stack, "/v1/auth/change-password", {"current_password": member.password,
                                                         "new_password": "amber-quarry-sextant-77"}, member.auth)
    # Then each is 403 OTP_REQUIRED and nothing changed
    for refused in (webhook, key, off, password):
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "OTP_REQUIRED"), refused.text
    # And a bot's orders key needs no code, while a wrong code is a 422 on the field
    assert _post(stack, "/v1/api-keys", {"label": "bot"}, member.auth).status_code == 201
    bad = _post(stack, "/v1/account/two-factor/disable", {"otp_code": "000000"}, member.auth)
    assert (bad.status_code, bad.json()["error"]["details"]["field"]) == (422, "otp_code")
    # When she sends a code (a recovery code here) with the webhook change, and the next step's code to turn it off
    changed = requests.put(f"{url}/v1/webhook", json={"url": "https://bot.example.com/sms", "otp_code": recovery[3]},
                           headers=member.auth, timeout=30)
    turned_off = _post(stack, "/v1/account/two-factor/disable", {"otp_code": code(secret, 1)}, member.auth)
    # Then both work, and her password alone signs her in again
    assert (changed.status_code, turned_off.status_code) == (200, 200), (changed.text, turned_off.text)
    assert "token" in _login(stack, member).json()
