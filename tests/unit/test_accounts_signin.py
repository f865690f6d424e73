"""Signing in and out, throttling, sessions, and password reset, over moto."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from chalicelib.services.activity import list_activity
from chalicelib.services.authn import authenticate
from chalicelib.services.login_throttle import EMAIL_RULE, IP_RULE
from chalicelib.services.passwords import Argon2Params, Passwords
from chalicelib.store.accounts import Account
from tests.unit.accounts_support import CHEAP, IP, PASSWORD, Harness

NEW_PASSWORD = "a brand new passphrase"


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
    newest = list_activity(account.account_id).entries[0]
    assert (newest.kind, newest.ip) == ("sign_in", IP)


def test_login__unverified_account_may_sign_in(h):
    # Given an account that has not confirmed its email
    h.registered()
    # When Ann signs in
    session = h.signin.login("ann@example.com", PASSWORD, IP)
    # Then she gets a session of an unverified account
    assert authenticate(session.token, h.clock).account.status == AccountStatus.UNVERIFIED.value


def test_login__wrong_password_and_unknown_email_get_the_same_error(h):
    # Given Ann's account
    h.verified()
    # When one tries a wrong password and another an unknown email
    wrong = _fail(h, "ann@example.com")
    unknown = _fail(h, "nobody@example.com")
    # Then both get the same code and message
    assert (wrong.code, wrong.message) == (unknown.code, unknown.message) == ("INVALID_CREDENTIALS",
                                                                              "Wrong email or password.")


def test_login__unknown_email_still_runs_argon2(h):
    # Given a hasher whose verify calls are counted
    calls: list[str] = []

    class CountingPasswords(Passwords):
        def _verify(self, password_hash: str, password: str) -> bool:
            calls.append(password_hash)
            return super()._verify(password_hash, password)

    counted = Harness(h.settings, CountingPasswords(CHEAP))
    # When an unknown email signs in
    with pytest.raises(Unauthenticated):
        counted.signin.login("nobody@example.com", PASSWORD, IP)
    # Then a real argon2id verification ran (so it takes as long as a wrong password)
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_login__repeated_failures_make_the_email_wait_with_backoff(h):
    # Given an attacker who used up the free failures on Ann's email
    h.verified()
    for _ in range(EMAIL_RULE.free_failures):
        assert isinstance(_fail(h), Unauthenticated)
    # When one more fails
    _fail(h)
    # Then even the right password is refused for 1 s (from any IP), then 2 s after the next failure
    with pytest.raises(RateLimited) as waiting:
        h.signin.login("ann@example.com", PASSWORD, "198.51.100.1")
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


def test_login__the_wait_is_capped_so_the_owner_is_never_locked_out_for_long(h):
    # Given many failures in a row on Ann's email, each after the previous wait
    h.verified()
    for _ in range(EMAIL_RULE.free_failures + 12):
        _fail(h)
        h.clock.advance(EMAIL_RULE.max_wait_seconds)
    _fail(h)
    # Then the wait never exceeds the cap
    with pytest.raises(RateLimited) as waiting:
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert waiting.value.retry_after_seconds == EMAIL_RULE.max_wait_seconds


def test_login__unknown_emails_are_throttled_like_real_ones(h):
    # Given the free failures used up on an address nobody registered
    for _ in range(EMAIL_RULE.free_failures + 1):
        _fail(h, "nobody@example.com")
    # Then it is throttled exactly as a real account would be
    assert isinstance(_fail(h, "nobody@example.com"), RateLimited)


def test_login__one_ip_failing_on_many_emails_is_throttled(h):
    # Given one IP failing on many different emails (never enough on any one of them)
    for n in range(IP_RULE.free_failures + 1):
        _fail(h, f"user{n}@example.com", "192.0.2.66")
    # Then that IP must wait, while another IP may still try
    assert isinstance(_fail(h, "fresh@example.com", "192.0.2.66"), RateLimited)
    assert isinstance(_fail(h, "fresh@example.com", "192.0.2.67"), Unauthenticated)


def test_login__failures_are_forgotten_after_a_quiet_window(h):
    # Given failures up to the free limit
    h.verified()
    for _ in range(EMAIL_RULE.free_failures):
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
    account.update(actions=[Account.status.set(status.value)])
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


def test_forgot_password__reset_link_sets_a_new_password_and_ends_sessions(h):
    # Given Ann signed in somewhere
    account = h.verified()
    old_session = h.session()
    # When she asks for a reset and uses the link
    h.signin.forgot_password("Ann@example.com")
    mail = h.mailer.last_to("ann@example.com")
    assert f"/#/reset-password?token={mail.token}" in mail.body
    h.signin.reset_password(mail.token, NEW_PASSWORD, IP)
    h.clock.advance(1)
    # Then the old password fails, the new one works, and the old session ended
    with pytest.raises(Unauthenticated):
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert h.signin.login("ann@example.com", NEW_PASSWORD, IP).token
    with pytest.raises(Unauthenticated):
        authenticate(old_session, h.clock)
    assert "password_reset" in [e.kind for e in list_activity(account.account_id).entries]


def test_forgot_password__unknown_email_sends_nothing(h):
    # When a reset is asked for an address without an account
    h.signin.forgot_password("nobody@example.com")
    # Then no email leaves (and the caller sees the same answer as for a real one)
    assert h.mailer.sent == []


def test_reset_password__weak_password_is_refused_and_the_link_still_works(h):
    # Given a reset link
    h.verified()
    h.signin.forgot_password("ann@example.com")
    token = h.mailer.last_to("ann@example.com").token
    # When a common password is chosen
    with pytest.raises(InvalidInput) as refused:
        h.signin.reset_password(token, "password123", IP)
    # Then it is refused and the same link accepts a good one
    assert refused.value.code == "WEAK_PASSWORD"
    assert h.signin.reset_password(token, NEW_PASSWORD, IP).status == AccountStatus.ACTIVE.value


def test_reset_password__link_works_once_and_expires(h):
    # Given two reset links a minute apart
    h.verified()
    h.signin.forgot_password("ann@example.com")
    first = h.mailer.last_to("ann@example.com").token
    h.clock.advance(60)
    h.signin.forgot_password("ann@example.com")
    second = h.mailer.last_to("ann@example.com").token
    # When the first is used twice
    h.signin.reset_password(first, NEW_PASSWORD, IP)
    with pytest.raises(InvalidInput) as reused:
        h.signin.reset_password(first, "yet another passphrase", IP)
    # Then the second use is refused, and the second link is dead once its hour is over
    assert reused.value.code == "TOKEN_INVALID"
    h.clock.advance(h.settings.reset_token_ttl_seconds)
    with pytest.raises(InvalidInput) as expired:
        h.signin.reset_password(second, "yet another passphrase", IP)
    assert expired.value.code == "TOKEN_EXPIRED"


def test_reset_password__also_confirms_an_unverified_email(h):
    # Given an unverified account
    account = h.registered()
    # When its owner resets the password through the emailed link
    h.signin.forgot_password("ann@example.com")
    h.signin.reset_password(h.mailer.last_to("ann@example.com").token, NEW_PASSWORD, IP)
    # Then the account is active: the link proved the address
    assert Account.get(account.account_id).status == AccountStatus.ACTIVE.value
