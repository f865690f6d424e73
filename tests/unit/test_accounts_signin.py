"""Signing in and out, throttling, sessions, and password reset, over moto."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from chalicelib.services.accounts.activity import list_activity
from chalicelib.services.accounts.authn import authenticate
from chalicelib.services.accounts.login_throttle import IP_RULE, PAIR_RULE
from chalicelib.services.accounts.passwords import Argon2Params, Passwords
from chalicelib.store import account_repo
from chalicelib.store.accounts import Account
from tests.unit.accounts_support import IP, PASSWORD, CountingPasswords, Harness

NEW_PASSWORD = "a brand new passphrase"
STRANGER = "192.0.2.66"


def _fail(h: Harness, email: str = "ann@example.com", ip: str = IP) -> Exception:
    with pytest.raises((Unauthenticated, RateLimited)) as failed:
        h.signin.login(email, "wrong password!", ip)
    return failed.value


def test_login__right_password_gives_a_session_that_authenticates(h):
    # Given a verified account
    account = h.verified()
    # When Ann signs in (email in another case)
    session = h.signin.login("ANN@example.com", PASSWORD, IP)
    # Then the token authenticates as her, expires after the session TTL, and the sign-in is logged with the IP
    principal = authenticate(session.token, h.clock)
    assert (principal.account.account_id, principal.credential_kind) == (account.account_id, "session")
    assert session.expires_at == h.clock.t + h.settings.session_ttl_seconds
    newest = list_activity(account.account_id, clock=SystemClock()).entries[0]
    assert (newest.kind, newest.ip) == ("sign_in", IP)


def test_login__unverified_account_may_sign_in(h):
    # Given an account that has not confirmed its email
    h.registered()
    # When Ann signs in
    session = h.signin.login("ann@example.com", PASSWORD, IP)
    # Then she gets a session of an unverified account
    assert authenticate(session.token, h.clock).account.status == AccountStatus.UNVERIFIED.value


def test_login__unknown_email_does_the_same_argon2_work_and_gets_the_same_answer(h):
    # Given Ann's account, and a hasher that records what each sign-in verifies against
    passwords = CountingPasswords()
    counted = Harness(h.settings, passwords)
    counted.verified()
    passwords.verified_against.clear()
    # When a wrong password for Ann and any password for an unknown email are tried
    wrong = _fail(counted, "ann@example.com")
    unknown = _fail(counted, "nobody@example.com")
    # Then each ran one real argon2id verification with the same parameters, and the answers are identical
    ann_hash, dummy = passwords.verified_against
    assert ann_hash.startswith("$argon2id$") and dummy.startswith("$argon2id$")
    assert ann_hash.split("$")[3] == dummy.split("$")[3]  # m=…,t=…,p=…
    assert (type(wrong), wrong.code, wrong.message, wrong.details) == (
        type(unknown), unknown.code, unknown.message, unknown.details)


def test_login__repeated_failures_make_the_email_wait_with_backoff_at_that_ip(h):
    # Given someone who used up the free failures on Ann's email from one IP
    h.verified()
    for _ in range(PAIR_RULE.free_failures):
        assert isinstance(_fail(h), Unauthenticated)
    # When one more fails
    _fail(h)
    # Then even the right password is refused from that IP for 1 s, then 2 s after the next failure
    with pytest.raises(RateLimited) as waiting:
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert waiting.value.retry_after_seconds == 1
    h.clock.advance(1)
    _fail(h)
    with pytest.raises(RateLimited) as longer:
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert longer.value.retry_after_seconds == 2
    # And once the wait is over the owner signs in, which clears the count
    h.clock.advance(2)
    assert h.signin.login("ann@example.com", PASSWORD, IP).token
    assert isinstance(_fail(h), Unauthenticated)


def test_login__a_stranger_hammering_from_one_ip_never_delays_the_owner_elsewhere(h):
    # Given a stranger who keeps guessing Ann's password from their IP, each time the wait is over
    h.verified()
    for _ in range(PAIR_RULE.free_failures + 10):
        _fail(h, ip=STRANGER)
        h.clock.advance(1)
    assert isinstance(_fail(h, ip=STRANGER), RateLimited)
    # When Ann signs in from her own IP
    session = h.signin.login("ann@example.com", PASSWORD, IP)
    # Then she gets in at once, and the stranger is still waiting
    assert session.token
    assert isinstance(_fail(h, ip=STRANGER), RateLimited)


def test_login__the_wait_is_short_so_the_owner_behind_the_same_ip_gets_in_soon(h):
    # Given many failures in a row on Ann's email from her own (shared) IP, each after the previous wait
    h.verified()
    for _ in range(PAIR_RULE.free_failures + 12):
        _fail(h)
        h.clock.advance(PAIR_RULE.max_wait_seconds)
    _fail(h)
    # Then the wait never exceeds a minute, and after it Ann gets in with her password
    with pytest.raises(RateLimited) as waiting:
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert waiting.value.retry_after_seconds == PAIR_RULE.max_wait_seconds == 60
    h.clock.advance(PAIR_RULE.max_wait_seconds)
    assert h.signin.login("ann@example.com", PASSWORD, IP).token


def test_login__a_browser_that_signed_in_before_gets_in_while_a_stranger_at_its_ip_keeps_guessing(h):
    # Given Ann, whose browser holds the device token of an earlier sign-in from her office NAT
    h.verified()
    device_token = h.signin.login("ann@example.com", PASSWORD, IP).device_token
    # When a stranger behind the same NAT guesses her password without pause, so that the (email, IP) pair waits
    for _ in range(PAIR_RULE.free_failures + 3):
        _fail(h)
    assert isinstance(_fail(h), RateLimited)
    # Then her browser still gets in at once, a made-up device token does not, and the wait is still there
    assert h.signin.login("ann@example.com", PASSWORD, IP, None, device_token).device_token == device_token
    with pytest.raises(RateLimited):
        h.signin.login("ann@example.com", PASSWORD, IP, None, "made-up-device-token")
    assert isinstance(_fail(h), RateLimited)


def test_login__wrong_passwords_from_a_trusted_browser_make_that_browser_wait(h):
    # Given a browser with Ann's device token, from which someone guesses
    h.verified()
    device_token = h.signin.login("ann@example.com", PASSWORD, IP).device_token
    for _ in range(PAIR_RULE.free_failures + 1):
        with pytest.raises(Unauthenticated):
            h.signin.login("ann@example.com", "wrong password!", IP, None, device_token)
    # Then that browser waits like any (email, IP) pair would, while Ann elsewhere signs in at once
    with pytest.raises(RateLimited):
        h.signin.login("ann@example.com", PASSWORD, IP, None, device_token)
    assert h.signin.login("ann@example.com", PASSWORD, "192.0.2.80").token


def test_login__unknown_emails_are_throttled_like_real_ones(h):
    # Given the free failures used up on an address nobody registered
    for _ in range(PAIR_RULE.free_failures + 1):
        _fail(h, "nobody@example.com")
    # Then it is throttled exactly as a real account would be
    assert isinstance(_fail(h, "nobody@example.com"), RateLimited)


def test_login__one_ip_failing_on_many_emails_is_throttled_for_new_emails(h):
    # Given one IP failing on many different emails (never enough on any one of them)
    for n in range(IP_RULE.free_failures + 1):
        _fail(h, f"user{n}@example.com", STRANGER)
    # Then that IP must wait for any email not signed in from it, while another IP may still try
    assert isinstance(_fail(h, "fresh@example.com", STRANGER), RateLimited)
    assert isinstance(_fail(h, "fresh@example.com", "192.0.2.67"), Unauthenticated)


def test_login__an_ip_over_its_limit_still_lets_in_the_accounts_known_there(h):
    # Given Ann, who signed in from her office NAT before, and Bob, who never did
    h.verified()
    h.verified("bob@example.com")
    h.session()
    # When someone behind the same NAT sprays wrong passwords over many emails until the IP must wait
    for n in range(IP_RULE.free_failures + 1):
        _fail(h, f"user{n}@example.com", IP)
    # Then Ann still signs in from it with her password, and Bob, new at that IP, must wait like the sprayer
    assert h.signin.login("ann@example.com", PASSWORD, IP).token
    with pytest.raises(RateLimited):
        h.signin.login("bob@example.com", PASSWORD, IP)
    assert h.signin.login("bob@example.com", PASSWORD, "192.0.2.67").token


def test_login__failures_are_forgotten_after_a_quiet_window(h):
    # Given failures up to the free limit
    h.verified()
    for _ in range(PAIR_RULE.free_failures):
        _fail(h)
    # When 15 quiet minutes pass and one more fails
    h.clock.advance(15 * 60 + 1)
    # Then it counts as the first of a new window: no wait
    assert isinstance(_fail(h), Unauthenticated)
    assert h.signin.login("ann@example.com", PASSWORD, IP).token


@pytest.mark.parametrize(("status", "code"), [
    (AccountStatus.BLOCKED, "ACCOUNT_BLOCKED"),
    (AccountStatus.LOCKED, "ACCOUNT_LOCKED"),
    (AccountStatus.DEACTIVATED, "ACCOUNT_INACTIVE"),
])
def test_login__blocked_or_locked_account_is_refused_even_with_the_right_password(h, status, code):
    # Given an account an admin blocked, or its owner locked
    account = h.verified()
    account_repo.change(account.account_id, {"status": status})
    # When the right password is given
    with pytest.raises(Forbidden) as refused:
        h.signin.login("ann@example.com", PASSWORD, IP)
    # Then it is refused with the reason, not a session
    assert refused.value.code == code


def test_login__hash_made_with_old_parameters_is_upgraded(h):
    # Given a password hashed with weaker parameters than today's
    old = Harness(h.settings, Passwords(Argon2Params(memory_kib=32, time_cost=1, parallelism=1)))
    account = old.verified()
    # When Ann signs in under the current parameters
    h.signin.login("ann@example.com", PASSWORD, IP)
    # Then her hash was redone with them and still verifies
    new_hash = Account.get(account.account_id).password_hash
    assert "m=64,t=1,p=1" in new_hash
    assert h.accounts.passwords.verify(new_hash, PASSWORD)


def test_session__expires_after_its_ttl(h):
    # Given a session
    h.verified()
    token = h.session()
    # When its lifetime passes
    h.clock.advance(h.settings.session_ttl_seconds)
    # Then it no longer authenticates
    with pytest.raises(Unauthenticated):
        authenticate(token, h.clock)


def test_logout__ends_only_that_session(h):
    # Given two sessions
    account = h.verified()
    first, second = h.session(), h.session()
    principal = authenticate(first, h.clock)
    # When the first signs out
    h.signin.logout(account.account_id, principal.credential_kind, principal.token_hash, IP)
    # Then it is refused and the other still works
    with pytest.raises(Unauthenticated):
        authenticate(first, h.clock)
    assert authenticate(second, h.clock).account.account_id == account.account_id


def test_logout__with_an_api_key_is_refused_and_the_key_survives(h):
    # Given an API key
    account = h.verified()
    key = h.api_keys.create(account.account_id, None, IP).api_key
    principal = authenticate(key, h.clock)
    # When "sign out" is called with it
    with pytest.raises(InvalidInput) as refused:
        h.signin.logout(account.account_id, principal.credential_kind, principal.token_hash, IP)
    # Then it is refused and the key still works
    assert refused.value.code == "NOT_A_SESSION"
    assert authenticate(key, h.clock).credential_kind == "api_key"


def test_logout_everywhere__ends_every_session_but_keeps_api_keys(h):
    # Given two sessions and an API key
    account = h.verified()
    sessions = [h.session(), h.session()]
    key = h.api_keys.create(account.account_id, "bot", IP).api_key
    # When Ann signs out everywhere
    assert h.signin.logout_everywhere(account.account_id, IP) == 2
    # Then no session works, the key does, and a new sign-in works
    for token in sessions:
        with pytest.raises(Unauthenticated):
            authenticate(token, h.clock)
    assert authenticate(key, h.clock).credential_kind == "api_key"
    h.clock.advance(1)
    assert authenticate(h.session(), h.clock).credential_kind == "session"
