"""Accounts over real HTTP against the local stack (DynamoDB Local, real argon2id, the outbox as the inbox)."""
from __future__ import annotations

import email
import email.policy
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.domain.ids import sha256_hex
from chalicelib.store.accounts import Account, OneTimeToken
from chalicelib.store.ledger import Claim

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
_LINK = re.compile(r"/#/(verify|reset-password)\?token=([A-Za-z0-9_-]+)")


class Http:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             raw: bytes | None = None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if raw is not None:
            return requests.request(method, self.base_url + path, data=raw, headers=headers, timeout=30)
        return requests.request(method, self.base_url + path, json=body, headers=headers, timeout=30)


@pytest.fixture
def http(stack) -> Http:
    return Http(stack.app_url)


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def wait_for_link(outbox: Path, to: str, kind: str, after: int = 0, timeout: float = 10) -> str:
    """The token of the newest email to `to` whose link is of `kind`, once more than `after` such emails exist."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        tokens = []
        for path in sorted(outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == to:
                found = _LINK.search(message.get_content())
                if found and found.group(1) == kind:
                    tokens.append(found.group(2))
        if len(tokens) > after:
            return tokens[-1]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} email to {to} in {outbox}")


def register(http: Http, address: str) -> requests.Response:
    return http.call("POST", "/v1/auth/register", {"email": address, "password": PASSWORD, "agreement_version": "1"})


def verified_session(http: Http, outbox: Path) -> tuple[str, str]:
    address = new_email()
    assert register(http, address).status_code == 201
    assert http.call("POST", "/v1/auth/verify", {"token": wait_for_link(outbox, address, "verify")}).status_code == 200
    login = http.call("POST", "/v1/auth/login", {"email": address, "password": PASSWORD})
    assert login.status_code == 200
    return address, login.json()["token"]


def test_journey__register_verify_sign_in_create_key_and_use_it(http, stack, stack_settings):
    # Given a new user registering
    address = new_email()
    registered = register(http, address)
    assert registered.status_code == 201 and registered.json()["status"] == "unverified"
    # When she signs in before verifying, she may look around but /v1/me says unverified
    early = http.call("POST", "/v1/auth/login", {"email": address, "password": PASSWORD}).json()["token"]
    assert http.call("GET", "/v1/me", token=early).json()["status"] == "unverified"
    # When she follows the emailed link and signs in
    verify = http.call("POST", "/v1/auth/verify", {"token": wait_for_link(stack.outbox, address, "verify")})
    assert verify.status_code == 200 and verify.json()["status"] == "active"
    login = http.call("POST", "/v1/auth/login", {"email": address.upper(), "password": PASSWORD})
    assert login.status_code == 200 and login.json()["expires_at"].endswith("Z")
    # And creates an API key with her session
    created = http.call("POST", "/v1/api-keys", {"label": "my bot"}, token=login.json()["token"])
    assert created.status_code == 201
    # Then the key alone identifies her account
    me = http.call("GET", "/v1/me", token=created.json()["api_key"])
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("account_id", "email", "status", "balance_cents", "currency")} == {
        "account_id": registered.json()["account_id"], "email": address, "status": "active", "balance_cents": 0,
        "currency": "USD"}
    # And her activity shows the sign-ins and the key, and her password is stored with the real argon2id cost
    kinds = [i["kind"] for i in http.call("GET", "/v1/activity", token=created.json()["api_key"]).json()["items"]]
    assert {"registered", "email_verified", "sign_in", "api_key_created"} <= set(kinds)
    stored = Account.get(registered.json()["account_id"])
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_register__racing_on_one_email_makes_exactly_one_account(http, stack_settings):
    # Given eight clients about to register the same address (in different cases) at the same moment
    address = new_email()
    start = threading.Barrier(8)
    replies: list[requests.Response] = []

    def race(n: int) -> None:
        start.wait()
        replies.append(register(http, address.upper() if n % 2 else address))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then all eight got the same answer (a taken address is not revealed), and exactly one account exists,
    # whose id is one of the eight answered; the other seven ids belong to nothing
    assert [r.status_code for r in replies] == [201] * 8
    answered = {r.json()["account_id"] for r in replies}
    winner = Claim.get(f"email#{address}").value
    assert winner in answered and len(answered) == 8
    assert [a.account_id for a in Account.scan(Account.email == address)] == [winner]


def test_verify__reused_and_expired_tokens_are_refused(http, stack, stack_settings):
    # Given two registrations; the second's link is made to be past its 24 hours
    used, stale = new_email(), new_email()
    register(http, used)
    register(http, stale)
    token = wait_for_link(stack.outbox, used, "verify")
    stale_token = wait_for_link(stack.outbox, stale, "verify")
    # (Only time makes a token expire; rather than wait a day, its expiry is moved into the past.)
    OneTimeToken(sha256_hex(stale_token)).update(actions=[OneTimeToken.expires_at.set(datetime.fromtimestamp(
        time.time() - 1, tz=UTC))])
    # When the first link is used twice and the stale one once
    first = http.call("POST", "/v1/auth/verify", {"token": token})
    again = http.call("POST", "/v1/auth/verify", {"token": token})
    expired = http.call("POST", "/v1/auth/verify", {"token": stale_token})
    # Then only the first use worked
    assert first.status_code == 200
    assert (again.status_code, again.json()["error"]["code"]) == (422, "TOKEN_INVALID")
    assert (expired.status_code, expired.json()["error"]["code"]) == (422, "TOKEN_EXPIRED")
    assert Account.get(expired_account_id(stale)).status == "unverified"


def expired_account_id(address: str) -> str:
    return str(Claim.get(f"email#{address}").value)


def test_report_unauthorized__locks_the_account_and_the_emailed_reset_unlocks_it(http, stack):
    # Given a user with a session and an API key for her own tools
    address, session = verified_session(http, stack.outbox)
    key = http.call("POST", "/v1/api-keys", {"scopes": ["account"]}, token=session).json()["api_key"]
    # When she reports unauthorized access using the key (its account scope allows it)
    reported = http.call("POST", "/v1/account/report-unauthorized", token=key)
    assert reported.status_code == 200 and reported.json()["status"] == "locked"
    # Then neither the key nor the session works, and signing in is refused
    assert http.call("GET", "/v1/me", token=key).status_code in (401, 403)
    assert http.call("GET", "/v1/me", token=session).status_code in (401, 403)
    refused = http.call("POST", "/v1/auth/login", {"email": address, "password": PASSWORD})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "ACCOUNT_LOCKED")
    # When she follows the reset link of the lock email
    reset = http.call("POST", "/v1/auth/reset-password",
                      {"token": wait_for_link(stack.outbox, address, "reset-password"), "password": NEW_PASSWORD})
    assert reset.status_code == 200 and reset.json()["status"] == "active"
    # Then she signs in with the new password, and the old key stays revoked
    fresh = http.call("POST", "/v1/auth/login", {"email": address, "password": NEW_PASSWORD})
    assert fresh.status_code == 200
    assert http.call("GET", "/v1/me", token=key).status_code == 401


def test_forgot_password__reset_link_works_once(http, stack):
    # Given a user who forgot her password
    address, _ = verified_session(http, stack.outbox)
    asked = http.call("POST", "/v1/auth/forgot-password", {"email": address})
    assert asked.status_code == 202
    token = wait_for_link(stack.outbox, address, "reset-password")
    # When she uses the link twice
    first = http.call("POST", "/v1/auth/reset-password", {"token": token, "password": NEW_PASSWORD})
    second = http.call("POST", "/v1/auth/reset-password", {"token": token, "password": "yet another passphrase"})
    # Then only the first counted
    assert first.status_code == 200 and second.status_code == 422
    assert http.call("POST", "/v1/auth/login", {"email": address, "password": NEW_PASSWORD}).status_code == 200


def test_withdraw_consent__the_user_can_no_longer_sign_in(http, stack):
    # Given a signed-in user with nothing on her balance
    address, session = verified_session(http, stack.outbox)
    # When she withdraws her consent
    withdrawn = http.call("POST", "/v1/account/withdraw-consent", token=session)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "deactivated"
    # Then her session is dead and her password no longer signs in
    assert http.call("GET", "/v1/me", token=session).status_code in (401, 403)
    login = http.call("POST", "/v1/auth/login", {"email": address, "password": PASSWORD})
    assert (login.status_code, login.json()["error"]["code"]) == (401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize("raw", [
    b"{oops", b"[]", b'{"email": 1, "password": "correct horse battery", "agreement_version": "1"}',
    b'{"email": "@@", "password": "correct horse battery", "agreement_version": "1"}',
    b'{"email": "EMAIL", "password": "short", "agreement_version": "1"}',
    b'{"email": "EMAIL", "password": "correct horse battery", "agreement_version": "99"}',
    b'{"email": "EMAIL", "password": "correct horse battery"}',
])
def test_register__malformed_input_gets_422_with_the_envelope_and_writes_nothing(http, stack_settings, raw):
    # Given a fresh address
    address = new_email()
    # When a malformed registration for it arrives
    reply = http.call("POST", "/v1/auth/register", raw=raw.replace(b"EMAIL", address.encode()))
    # Then it is a 422 with the envelope and the address was not taken
    assert reply.status_code == 422
    assert set(reply.json()["error"]) >= {"code", "message"}
    with pytest.raises(Claim.DoesNotExist):
        Claim.get(f"email#{address}")
