"""Two-factor sign-in (TOTP) as a service over moto with a fixed clock: RFC 6238, setup, sign-in, replay, recovery."""
from __future__ import annotations

import base64

import pyotp
import pytest

from chalicelib.domain.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from chalicelib.services.accounts.sessions import IssuedSession
from chalicelib.services.accounts.two_factor import CHALLENGE_ATTEMPTS, Challenge, matching_step
from chalicelib.store.accounts import Account
from tests.unit.accounts_support import IP, PASSWORD, Harness

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 appendix B, SHA-1


@pytest.mark.parametrize(("unix_time", "eight_digits"), [
    (59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
    (2000000000, "69279037"), (20000000000, "65353130"),
])
def test_matching_step__rfc_6238_vectors_by_pyotp_at_an_injected_time(unix_time, eight_digits):
    # Given the RFC's SHA-1 secret and time, whose 8-digit code ends in our 6 digits
    code = eight_digits[-6:]
    # Then that code is of the RFC's step, and pyotp agrees at that time
    assert matching_step(RFC_SECRET, code, unix_time) == unix_time // 30
    assert pyotp.TOTP(RFC_SECRET, digits=8).at(unix_time) == eight_digits
    # And a step further than the drift allows, or another code, is not
    assert matching_step(RFC_SECRET, code, unix_time + 90) is None
    assert matching_step(RFC_SECRET, str((int(code) + 1) % 1_000_000).zfill(6), unix_time) is None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "١٢٣٤٥٦", "12 34 56", "abcdef", "²²²²²²"])
def test_matching_step__only_six_ascii_digits(bad):
    assert matching_step(RFC_SECRET, bad, 59) is None


def _code(h: Harness, secret: str) -> str:
    return pyotp.TOTP(secret).at(h.clock.now())


def _turned_on(h: Harness) -> tuple[Account, str, list[str]]:
    """Ann, verified, with two-factor on; her secret and recovery codes."""
    account = h.verified()
    enrollment = h.signin.two_factor.begin(account)
    codes = h.signin.two_factor.enable(h.accounts.get(account.account_id), _code(h, enrollment.secret), IP)
    h.clock.advance(30)  # the next sign-in's code is of a later step
    return h.accounts.get(account.account_id), enrollment.secret, codes


def test_enable__confirmed_with_a_current_code_gives_ten_recovery_codes_stored_hashed(h):
    # Given Ann starting the setup
    account = h.verified()
    enrollment = h.signin.two_factor.begin(account)
    assert enrollment.otpauth_uri.startswith("otpauth://totp/SMS%20Rooms:ann%40example.com?secret=")
    # When she confirms with a wrong code, then with the current one
    with pytest.raises(InvalidInput) as wrong:
        h.signin.two_factor.enable(h.accounts.get(account.account_id), "000000", IP)
    codes = h.signin.two_factor.enable(h.accounts.get(account.account_id), _code(h, enrollment.secret), IP)
    # Then the wrong one changed nothing, and she holds 10 distinct codes that the account keeps only as hashes
    assert wrong.value.code == "OTP_INVALID"
    stored = h.accounts.get(account.account_id)
    assert len(set(codes)) == 10 and len(stored.recovery_codes) == 10
    assert not set(codes) & set(stored.recovery_codes) and stored.totp_secret == enrollment.secret
    assert stored.totp_pending_secret is None


def test_login__with_two_factor_needs_a_code_and_a_wrong_one_is_refused(h):
    # Given Ann with two-factor on
    _, secret, _ = _turned_on(h)
    # When she signs in with her password
    challenge = h.signin.login("ann@example.com", PASSWORD, IP)
    # Then there is no session yet, a wrong code fails, and the current code gives the session
    assert isinstance(challenge, Challenge)
    with pytest.raises(Unauthenticated) as wrong:
        h.signin.complete_mfa(challenge.mfa_token, "123456" if _code(h, secret) != "123456" else "654321", IP)
    assert wrong.value.code == "MFA_FAILED"
    assert isinstance(h.signin.complete_mfa(challenge.mfa_token, _code(h, secret), IP), IssuedSession)
    # And the challenge is spent
    with pytest.raises(Unauthenticated):
        h.signin.complete_mfa(challenge.mfa_token, _code(h, secret), IP)


def test_login__the_same_time_step_code_cannot_be_used_twice(h):
    # Given Ann signed in once with the current code
    _, secret, _ = _turned_on(h)
    code = _code(h, secret)
    first = h.signin.login("ann@example.com", PASSWORD, IP)
    h.signin.complete_mfa(first.mfa_token, code, IP)
    # When someone who saw that code replays it within the same step
    second = h.signin.login("ann@example.com", PASSWORD, IP)
    with pytest.raises(Unauthenticated):
        h.signin.complete_mfa(second.mfa_token, code, IP)
    # Then it is refused, and the next step's code works
    h.clock.advance(30)
    assert isinstance(h.signin.complete_mfa(second.mfa_token, _code(h, secret), IP), IssuedSession)


def test_login__a_recovery_code_works_once(h):
    # Given Ann with two-factor on, her phone lost
    _, _, codes = _turned_on(h)
    # When she signs in with a recovery code (typed in capitals, without the dashes), then with it again
    first = h.signin.login("ann@example.com", PASSWORD, IP)
    session = h.signin.complete_mfa(first.mfa_token, codes[0].replace("-", "").upper(), IP)
    second = h.signin.login("ann@example.com", PASSWORD, IP)
    with pytest.raises(Unauthenticated):
        h.signin.complete_mfa(second.mfa_token, codes[0], IP)
    # Then the first worked, the second did not, and 9 codes are left (another one still works)
    assert isinstance(session, IssuedSession)
    assert h.signin.two_factor.recovery_codes_left(h.accounts.get(first_account_id(h))) == 9
    assert isinstance(h.signin.complete_mfa(second.mfa_token, codes[1], IP), IssuedSession)


def first_account_id(h: Harness) -> str:
    account = h.accounts.find_by_email("ann@example.com")
    assert account is not None
    return str(account.account_id)


def test_complete_mfa__a_challenge_dies_after_its_wrong_codes_and_the_pair_is_throttled(h):
    # Given Ann with two-factor on, and someone holding her password
    _, secret, _ = _turned_on(h)
    challenge = h.signin.login("ann@example.com", PASSWORD, IP)
    wrong = "000000" if _code(h, secret) != "000000" else "111111"
    # When they guess codes past the challenge's allowance
    for _ in range(CHALLENGE_ATTEMPTS):
        with pytest.raises(Unauthenticated):
            h.signin.complete_mfa(challenge.mfa_token, wrong, IP)
    # Then even the right code no longer answers that challenge, with the same answer as a made-up one
    with pytest.raises((Unauthenticated, RateLimited)):
        h.signin.complete_mfa(challenge.mfa_token, _code(h, secret), IP)
    with pytest.raises(Unauthenticated) as made_up:
        h.signin.complete_mfa("not-a-challenge", _code(h, secret), IP)
    assert made_up.value.code == "MFA_FAILED"
    # And past the pair's free failures, even a new challenge from that IP must wait before it may try again
    fresh = h.signin.login("ann@example.com", PASSWORD, IP)
    with pytest.raises(Unauthenticated):
        h.signin.complete_mfa(fresh.mfa_token, wrong, IP)
    with pytest.raises(RateLimited):
        h.signin.complete_mfa(fresh.mfa_token, _code(h, secret), IP)


def test_require__security_changes_need_a_code_only_when_two_factor_is_on(h):
    # Given Bob without two-factor and Ann with it
    bob = h.verified("bob@example.com")
    ann, secret, _ = _turned_on(h)
    two_factor = h.signin.two_factor
    # Then Bob needs nothing, Ann needs a code, a wrong one is refused and the current one passes
    two_factor.require(bob, None, IP)
    with pytest.raises(Forbidden) as missing:
        two_factor.require(ann, None, IP)
    with pytest.raises(InvalidInput):
        two_factor.require(ann, "abc", IP)
    two_factor.require(ann, _code(h, secret), IP)
    assert missing.value.code == "OTP_REQUIRED"


def test_disable__needs_a_code_then_sign_in_needs_only_the_password(h):
    # Given Ann with two-factor on
    account, secret, _ = _turned_on(h)
    # When she turns it off with a current code
    h.signin.two_factor.disable(account, _code(h, secret), IP)
    # Then her password alone signs her in, and nothing of the secret or codes is left
    assert isinstance(h.signin.login("ann@example.com", PASSWORD, IP), IssuedSession)
    stored = h.accounts.get(account.account_id)
    assert (stored.totp_secret, stored.recovery_codes, stored.totp_last_step) == (None, None, None)


def test_reset_password__the_emailed_link_alone_does_not_pass_two_factor(h):
    # Given Ann with two-factor on, and a reset link in her inbox (which someone may have read)
    _, secret, _ = _turned_on(h)
    h.recovery.forgot_password("ann@example.com")
    token = h.mailer.last_to("ann@example.com").token
    # When the link is used without a code, then with her current code
    with pytest.raises(Forbidden) as missing:
        h.recovery.reset_password(token, "a brand new passphrase", IP, revoke_api_keys=True)
    reset = h.recovery.reset_password(token, "a brand new passphrase", IP, revoke_api_keys=True,
                                      otp_code=_code(h, secret))
    # Then only the second changed the password
    assert missing.value.code == "OTP_REQUIRED"
    assert reset.account.status == "active"
    assert isinstance(h.signin.login("ann@example.com", "a brand new passphrase", IP), Challenge)


def test_enable_route__needs_the_current_password_so_a_stolen_session_cannot_turn_it_on(api):
    # Given Ann's session (which a stranger may hold) and a new secret
    session = api.session()
    secret = api.call("POST", "/v1/account/two-factor/setup", token=session).json_body["secret"]
    code = pyotp.TOTP(secret).at(api.h.clock.now())
    # When it is confirmed with the right code but no password, or a wrong one
    bare = api.call("POST", "/v1/account/two-factor/enable", {"otp_code": code}, token=session)
    wrong = api.call("POST", "/v1/account/two-factor/enable", {"otp_code": code, "current_password": "guess"},
                     token=session)
    # Then both are refused on their field and two-factor stays off
    assert (bare.status_code, bare.json_body["error"]["details"]["field"]) == (422, "current_password")
    assert (wrong.status_code, wrong.json_body["error"]["code"]) == (422, "WRONG_PASSWORD")
    assert api.call("GET", "/v1/account/two-factor", token=session).json_body["enabled"] is False
    # And with her password it turns on
    on = api.call("POST", "/v1/account/two-factor/enable", {"otp_code": code, "current_password": PASSWORD},
                  token=session)
    assert on.status_code == 200 and len(on.json_body["recovery_codes"]) == 10
