"""The owner's security over real HTTP: lockout strangers cannot cause, no account enumeration, recovery that
revokes what it should (reset links, sessions, API keys), the sessions list, and the emails that tell the owner."""
from __future__ import annotations

import secrets
import time

import pytest
import requests

from infra.local.stack import Stack
from tests.integration.helpers_security import (
    Member,
    bearer,
    current_agreement_version,
    emails_to,
    link_token,
    sign_in,
    sign_up,
    unique_email,
)
from tests.support import client_at

pytestmark = pytest.mark.integration

NEW_PASSWORD = "amber-quarry-sextant-77"
FIREFOX = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
GUESSES = 9  # more than the 5 free failures of an (email, IP) pair
LONG_WAIT_SECONDS = 8  # longer than the owner's sign-in takes on a starved machine (the throttle waits 1, 2, 4, 8 s…)


def _login(client: requests.Session, stack: Stack, email: str, password: str) -> requests.Response:
    return client.post(f"{stack.app_url}/v1/auth/login", json={"email": email, "password": password}, timeout=30)


def _hammer(client: requests.Session, stack: Stack, email: str) -> list[int]:
    return [_login(client, stack, email, f"guess-{n}-{secrets.token_hex(4)}").status_code for n in range(GUESSES)]


def _hammer_until_refused_for(client: requests.Session, stack: Stack, email: str, seconds: int) -> list[int]:
    """`_hammer`, then sit out each wait and guess again until the pair must wait at least `seconds` (each counted
    failure doubles it): what the test does next runs inside the wait even where one sign-in takes seconds."""
    guesses = _hammer(client, stack, email)
    for _ in range(20):
        reply = _login(client, stack, email, f"guess-{secrets.token_hex(4)}")
        guesses.append(reply.status_code)
        if reply.status_code == 429:
            if int(reply.headers["Retry-After"]) >= seconds:
                return guesses
            time.sleep(int(reply.headers["Retry-After"]))
    raise AssertionError(f"the pair's wait never reached {seconds} s: {guesses}")


def _subjects(stack: Stack, address: str) -> list[str]:
    return [str(m["Subject"]) for m in emails_to(stack.outbox, address)]


def _me(stack: Stack, secret: str) -> int:
    return requests.get(f"{stack.app_url}/v1/me", headers=bearer(secret), timeout=30).status_code


def _new_key(stack: Stack, member: Member) -> str:
    reply = requests.post(f"{stack.app_url}/v1/api-keys", headers=member.auth, json={"label": "bot"}, timeout=30)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["api_key"])


def _reset_link(stack: Stack, email: str) -> str:
    before = len(emails_to(stack.outbox, email))
    requests.post(f"{stack.app_url}/v1/auth/forgot-password", json={"email": email}, timeout=30).raise_for_status()
    deadline = time.monotonic() + 10
    while len(emails_to(stack.outbox, email)) == before:
        assert time.monotonic() < deadline, "no reset email came"
        time.sleep(0.1)
    return link_token(stack.outbox, email, subject="Reset")


def test_login__a_stranger_hammering_from_one_ip_never_delays_the_owner_at_another(stack: Stack) -> None:
    # Given a member, and a stranger guessing their password from another IP until refused
    member = sign_up(stack.app_url, stack.outbox)
    stranger, owner = client_at("127.0.0.61"), client_at("127.0.0.62")
    guesses = _hammer_until_refused_for(stranger, stack, member.email, LONG_WAIT_SECONDS)
    assert guesses[:5] == [401] * 5 and guesses[-1] == 429
    # When the owner signs in from their own IP, at once
    signed_in = _login(owner, stack, member.email, member.password)
    # Then they get in, while the stranger is still refused
    assert signed_in.status_code == 200, signed_in.text
    assert _login(stranger, stack, member.email, member.password).status_code == 429


def test_login__the_owner_behind_the_strangers_ip_gets_in_after_the_short_wait(stack: Stack) -> None:
    # Given a member whose office NAT is shared with a stranger who guesses their password until refused
    member = sign_up(stack.app_url, stack.outbox)
    nat = client_at("127.0.0.63")
    assert _hammer(nat, stack, member.email)[-1] == 429
    # When the owner signs in from the same IP: refused for a short wait, which they sit out
    waiting = _login(nat, stack, member.email, member.password)
    assert waiting.status_code == 429 and int(waiting.headers["Retry-After"]) <= 60
    time.sleep(int(waiting.headers["Retry-After"]))
    # Then the right password gets them in
    assert _login(nat, stack, member.email, member.password).status_code == 200


def test_login__the_owners_browser_gets_in_at_once_while_a_stranger_at_its_ip_keeps_guessing(stack: Stack) -> None:
    # Given a member whose browser signed in before from the office NAT (and kept its device token)
    member = sign_up(stack.app_url, stack.outbox)
    nat = client_at("127.0.0.67")
    device_token = _login(nat, stack, member.email, member.password).json()["device_token"]
    # When a stranger behind the same NAT guesses until refused, and keeps guessing
    assert _hammer_until_refused_for(nat, stack, member.email, LONG_WAIT_SECONDS)[-1] == 429
    # Then the owner's browser signs in at once with its token, while the stranger stays refused
    owner = nat.post(f"{stack.app_url}/v1/auth/login", timeout=30, json={
        "email": member.email, "password": member.password, "device_token": device_token})
    assert owner.status_code == 200, owner.text
    assert _login(nat, stack, member.email, member.password).status_code == 429


def test_api_key__a_known_good_key_keeps_working_while_its_ip_sprays_bad_keys(stack: Stack) -> None:
    # Given a bot with a good key, on an IP from which someone sprays made-up keys until refused
    member = sign_up(stack.app_url, stack.outbox)
    key = _new_key(stack, member)
    ip = client_at("127.0.0.64")
    sprayed: list[int] = []
    while len(sprayed) < 200 and 429 not in sprayed:  # 30 in 10 s: a starved machine needs more than 40 tries
        sprayed.append(ip.get(f"{stack.app_url}/v1/me", headers=bearer("smsr_" + secrets.token_urlsafe(32)),
                              timeout=30).status_code)
    assert sprayed[-1] == 429 and set(sprayed[:-1]) <= {401}
    # When the good key is used from that IP over REST and the handler API
    rest = ip.get(f"{stack.app_url}/v1/me", headers=bearer(key), timeout=30)
    handler = ip.get(f"{stack.app_url}/stubs/handler_api.php", params={"api_key": key, "action": "getBalance"},
                     timeout=30)
    # Then both answer as usual
    assert rest.status_code == 200 and rest.json()["account_id"] == member.account_id
    assert handler.text.startswith("ACCESS_BALANCE:")


def test_register__a_taken_email_answers_like_a_new_one_and_the_owner_is_told(stack: Stack) -> None:
    # Given a member
    member = sign_up(stack.app_url, stack.outbox)
    version = current_agreement_version(stack.app_url)
    # When someone registers their address, and someone else a new one
    taken = requests.post(f"{stack.app_url}/v1/auth/register", timeout=30, json={
        "email": member.email.upper(), "password": NEW_PASSWORD, "agreement_version": version})
    fresh = requests.post(f"{stack.app_url}/v1/auth/register", timeout=30, json={
        "email": unique_email(), "password": NEW_PASSWORD, "agreement_version": version})
    # Then both answers have the same status, content type and shape; the ids look alike and differ
    assert taken.status_code == fresh.status_code == 201
    assert taken.headers["Content-Type"] == fresh.headers["Content-Type"]
    assert taken.json().keys() == fresh.json().keys() == {"account_id", "status"}
    assert taken.json()["status"] == fresh.json()["status"] == "unverified"
    assert len(taken.json()["account_id"]) == len(fresh.json()["account_id"])
    assert taken.json()["account_id"] != member.account_id
    # And the owner got an email about it, and still signs in as before
    assert "Someone tried to register with your email" in _subjects(stack, member.email)
    assert sign_in(stack.app_url, member.email, member.password)


def test_forgot_password__known_and_unknown_addresses_get_the_same_answer(stack: Stack) -> None:
    # Given a member and an address without an account
    member, nobody = sign_up(stack.app_url, stack.outbox), unique_email("nobody")
    # When a reset is asked for each
    known, unknown = [requests.post(f"{stack.app_url}/v1/auth/forgot-password", json={"email": e}, timeout=30)
                      for e in (member.email, nobody)]
    # Then the answers are byte for byte the same, and each address got one email
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert _subjects(stack, nobody) == ["Reset your SMS Rooms password"]


def _reset(stack: Stack, token: str, password: str, **choice: bool) -> requests.Response:
    return requests.post(f"{stack.app_url}/v1/auth/reset-password", timeout=30,
                         json={"token": token, "password": password, **choice})


def test_reset_password__a_newer_link_kills_the_older_one_and_a_report_always_revokes_keys(stack: Stack) -> None:
    # Given a member with a bot's key, who asked for a reset link, then reported unauthorized access
    # (the lock email carries a newer link)
    member = sign_up(stack.app_url, stack.outbox)
    key = _new_key(stack, member)
    older = _reset_link(stack, member.email)
    requests.post(f"{stack.app_url}/v1/account/report-unauthorized", headers=member.auth,
                  timeout=30).raise_for_status()
    newer = link_token(stack.outbox, member.email, subject="locked")
    # When the older link is used, then the newer one asking to keep the keys, then the newer one again
    stale = _reset(stack, older, NEW_PASSWORD)
    unlocked = _reset(stack, newer, NEW_PASSWORD, revoke_api_keys=False)
    reused = _reset(stack, newer, "another-new-passphrase")
    # Then only the newest link worked, once; it unlocked the account but the keys stay revoked after the report
    assert (stale.status_code, stale.json()["error"]["code"]) == (422, "TOKEN_INVALID")
    assert unlocked.status_code == 200 and unlocked.json()["api_keys_revoked"] is True
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "TOKEN_INVALID")
    assert _me(stack, key) == 401
    assert sign_in(stack.app_url, member.email, NEW_PASSWORD)


@pytest.mark.parametrize(("choice", "key_status"), [({}, 401), ({"revoke_api_keys": False}, 200)])
def test_reset_password__signs_out_every_session_and_revokes_keys_unless_kept(stack: Stack, choice: dict[str, bool],
                                                                               key_status: int) -> None:
    # Given a member with a session and a bot's key
    member = sign_up(stack.app_url, stack.outbox)
    key = _new_key(stack, member)
    # When they reset their password, by default or keeping their keys
    reset = _reset(stack, _reset_link(stack, member.email), NEW_PASSWORD, **choice)
    # Then the session is signed out, and the key revoked unless kept; the owner was told by email
    assert reset.status_code == 200 and reset.json()["api_keys_revoked"] is (key_status == 401)
    assert _me(stack, member.session) == 401 and _me(stack, key) == key_status
    assert "Your SMS Rooms password was changed" in _subjects(stack, member.email)


def test_change_password__needs_the_current_one_and_leaves_only_the_new_session(stack: Stack) -> None:
    # Given a member signed in twice, with a bot's key
    member = sign_up(stack.app_url, stack.outbox)
    other_session = sign_in(stack.app_url, member.email, member.password)
    key = _new_key(stack, member)
    url = f"{stack.app_url}/v1/auth/change-password"
    # When they change their password with a wrong current one, then with the right one (default choices)
    wrong = requests.post(url, headers=member.auth, timeout=30,
                          json={"current_password": "not my password", "new_password": NEW_PASSWORD})
    changed = requests.post(url, headers=member.auth, timeout=30,
                            json={"current_password": member.password, "new_password": NEW_PASSWORD})
    # Then the wrong one names the field and changes nothing; the right one gives a new session, and every
    # earlier session and the key stop working; only the new password signs in
    assert (wrong.status_code, wrong.json()["error"]["details"]) == (422, {"field": "current_password"})
    assert changed.status_code == 200 and changed.json()["api_keys_revoked"] is True
    assert changed.headers["Cache-Control"] == "no-store"
    assert [_me(stack, s) for s in (member.session, other_session, key)] == [401, 401, 401]
    assert _me(stack, changed.json()["token"]) == 200
    assert _login(requests.Session(), stack, member.email, member.password).status_code == 401
    assert sign_in(stack.app_url, member.email, NEW_PASSWORD)


def test_sessions__listed_with_ip_and_device_and_one_revoked(stack: Stack) -> None:
    # Given a member signed in again from another IP with Firefox
    member = sign_up(stack.app_url, stack.outbox)
    laptop = client_at("127.0.0.65")
    firefox = laptop.post(f"{stack.app_url}/v1/auth/login", headers=FIREFOX, timeout=30,
                          json={"email": member.email, "password": member.password}).json()["token"]
    # When they list their sessions from the first one
    listed = requests.get(f"{stack.app_url}/v1/sessions", headers=member.auth, timeout=30)
    # Then both show, the current one marked, the other with its IP and device
    assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"
    sessions = listed.json()["items"]
    assert [s["current"] for s in sessions] == [False, True]
    assert (sessions[0]["ip"], sessions[0]["device"]) == ("127.0.0.65", FIREFOX["User-Agent"])
    # When they revoke the Firefox one
    revoked = requests.delete(f"{stack.app_url}/v1/sessions/{sessions[0]['session_id']}", headers=member.auth,
                              timeout=30)
    # Then it is signed out and the current one still works
    assert revoked.status_code == 204
    assert (_me(stack, firefox), _me(stack, member.session)) == (401, 200)


def test_security_emails__new_ip_new_key_and_webhook_change_reach_the_owner(stack: Stack) -> None:
    # Given a member (first sign-in from 127.0.0.1)
    member = sign_up(stack.app_url, stack.outbox)
    # When they sign in from another IP, create an API key and change the webhook URL
    assert _login(client_at("127.0.0.66"), stack, member.email, member.password).status_code == 200
    _new_key(stack, member)
    requests.put(f"{stack.app_url}/v1/webhook", headers=member.auth, json={"url": "https://example.com/sms-hook"},
                 timeout=30).raise_for_status()
    # Then each reached their inbox, saying from where and what
    messages = {str(m["Subject"]): str(m.get_content()) for m in emails_to(stack.outbox, member.email)}
    assert "127.0.0.66" in messages["New sign-in to your SMS Rooms account"]
    assert "bot" in messages["A new API key was created on SMS Rooms"]
    assert "https://example.com/sms-hook" in messages["Your SMS Rooms webhook changed"]
