"""Two-factor sign-in (TOTP, RFC 6238, computed by pyotp): set up, confirm, recovery codes, and spending a code once.

- A code is 6 digits of a 30-second step; the step before and after are accepted (clock drift). The step of the
  code used is stored, and a code of that step or an earlier one is refused: a code works once (ASVS 6.5.5).
- Recovery codes: 10, shown once, 80 random bits each, stored as SHA-256; using one removes it in the same
  conditional write, so each works once.
- Failed codes count per (account, IP) in the sign-in throttle (5 free, then a doubling wait up to 60 s), and a
  sign-in challenge dies after 5 wrong codes.
- The secret is never returned after setup, never logged; it is stored in the account row (DynamoDB encrypts
  tables at rest; it is not encrypted by the application).
"""
from __future__ import annotations

from dataclasses import dataclass

import pyotp

from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from chalicelib.domain.ids import new_secret, sha256_hex
from chalicelib.domain.totp import (
    STEP_SECONDS,
    is_totp_shaped,
    matching_step,
    new_recovery_codes,
    normalised_recovery_code,
)
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.services.accounts.login_throttle import SignInThrottle
from chalicelib.store import account_repo, token_repo, transaction
from chalicelib.store.token_repo import OneTimeToken

CHALLENGE_TTL_SECONDS = 300
CHALLENGE_ATTEMPTS = 5
ISSUER = "SMS Rooms"
_CHALLENGE = "mfa"


@dataclass(frozen=True)
class Enrollment:
    secret: str  # base32, for typing into an app
    otpauth_uri: str  # the same, for a QR code or a link


@dataclass(frozen=True)
class Challenge:
    mfa_token: str
    expires_at: float


def is_on(account: Account) -> bool:
    return bool(account.totp_secret)


def mfa_failed() -> Unauthenticated:
    """The one answer of the second step to a wrong code, a spent or expired or made-up challenge."""
    return Unauthenticated("The code is not right, or this sign-in expired. Try the current code, or sign in again.",
                           code="MFA_FAILED")


class TwoFactor:
    def __init__(self, clock: Clock, throttle: SignInThrottle, retention_days: int) -> None:
        self.clock = clock
        self.throttle = throttle
        self.retention_days = retention_days

    # ---- setting it up and off ----------------------------------------------------------------------------

    def begin(self, account: Account) -> Enrollment:
        """A new secret waiting for its first code (any earlier unconfirmed one is replaced)."""
        already_on = Conflict("Two-factor sign-in is already on. Turn it off first to use another app.",
                              code="TWO_FACTOR_ON")
        if is_on(account):
            raise already_on
        secret = pyotp.random_base32()
        try:
            account_repo.change(account.account_id, {"totp_pending_secret": secret}, when={"totp_secret": None})
        except transaction.Refused:
            raise already_on from None
        uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account.email, issuer_name=ISSUER)
        return Enrollment(secret=secret, otpauth_uri=uri)

    def enable(self, account: Account, code: str, ip: str) -> list[str]:
        """Turn it on with a current code of the waiting secret; returns the recovery codes (shown once).
        Raises InvalidInput (OTP_INVALID) for a wrong code, Conflict when there is nothing to confirm."""
        pending = account.totp_pending_secret
        if is_on(account) or not pending:
            raise Conflict("Start the setup first: there is no new secret waiting for a code.",
                           code="TWO_FACTOR_NOT_PENDING")
        step = self._matching_step(pending, code)
        if step is None:
            raise _code_invalid()
        codes, hashes = new_recovery_codes()
        try:
            account_repo.change(account.account_id, {"totp_secret": pending, "totp_pending_secret": None,
                                                     "totp_last_step": step, "recovery_codes": frozenset(hashes)},
                                when={"totp_pending_secret": pending, "totp_secret": None})
        except transaction.Refused:
            raise Conflict("Two-factor sign-in changed meanwhile; reload and try again.",
                           code="TWO_FACTOR_CHANGED") from None
        self._record(account, ActivityKind.TWO_FACTOR_ENABLED, ip)
        return codes

    def disable(self, account: Account, code: str | None, ip: str) -> None:
        self.require(account, code, ip)
        account_repo.change(account.account_id, dict.fromkeys(
            ("totp_secret", "totp_pending_secret", "totp_last_step", "recovery_codes")))
        self._record(account, ActivityKind.TWO_FACTOR_DISABLED, ip)

    def regenerate(self, account: Account, code: str | None, ip: str) -> list[str]:
        """New recovery codes (the old ones stop working); needs a current code. Raises Conflict when it is off."""
        if not is_on(account):
            raise Conflict("Two-factor sign-in is off: there are no recovery codes.", code="TWO_FACTOR_OFF")
        self.require(account, code, ip)
        codes, hashes = new_recovery_codes()
        try:
            account_repo.change(account.account_id, {"recovery_codes": frozenset(hashes)},
                                when={"totp_secret": account_repo.PRESENT})
        except transaction.Refused:
            raise Conflict("Two-factor sign-in was turned off meanwhile.", code="TWO_FACTOR_OFF") from None
        self._record(account, ActivityKind.RECOVERY_CODES_REGENERATED, ip)
        return codes

    @staticmethod
    def recovery_codes_left(account: Account) -> int:
        return len(account.recovery_codes or ())

    # ---- codes for security changes -----------------------------------------------------------------------

    def require(self, account: Account, code: str | None, ip: str) -> None:
        """Nothing when two-factor is off; else spends `code` (a current code or a recovery code). Raises
        Forbidden (OTP_REQUIRED) without one, InvalidInput (OTP_INVALID) for a wrong one, RateLimited."""
        if not is_on(account):
            return
        if not code:
            raise Forbidden("Two-factor sign-in is on: send a current code from your app (or a recovery code) "
                            "as 'otp_code'.", code="OTP_REQUIRED", details={"field": "otp_code"})
        if not self._spend(account, code, ip):
            raise _code_invalid()

    # ---- the sign-in's second step ------------------------------------------------------------------------

    def challenge(self, account_id: str) -> Challenge:
        """A short-lived ticket standing for "password right": no session until a code goes with it."""
        now = self.clock.now()
        secret = new_secret(24)
        token_repo.save(OneTimeToken(sha256_hex(secret), purpose=_CHALLENGE, account_id=account_id, created_at=now,
                                     expires_at=now + CHALLENGE_TTL_SECONDS, attempts=0))
        return Challenge(mfa_token=secret, expires_at=now + CHALLENGE_TTL_SECONDS)

    def pass_challenge(self, mfa_token: str, code: str, ip: str) -> Account:
        """The account whose challenge this code answers; the challenge is then spent. Raises Unauthenticated
        (MFA_FAILED, the same for every failure) or RateLimited."""
        row = self._live_challenge(mfa_token)
        account = account_repo.read(row.account_id)
        if account is None:
            raise mfa_failed()
        if not self._spend(account, code, ip):
            self._count_attempt(row)
            raise mfa_failed()
        try:
            token_repo.spend(row.token_hash)
        except transaction.Refused:
            raise mfa_failed() from None  # a racing request spent it first
        return account

    def _live_challenge(self, mfa_token: str) -> OneTimeToken:
        if not mfa_token or len(mfa_token) > 200:
            raise mfa_failed()
        row = token_repo.read(sha256_hex(mfa_token))
        if row is None or row.purpose != _CHALLENGE or row.expires_at <= self.clock.now():
            raise mfa_failed()
        return row

    def _count_attempt(self, row: OneTimeToken) -> None:
        if not token_repo.count_attempt(row.token_hash, below=CHALLENGE_ATTEMPTS - 1):
            token_repo.delete(row.token_hash)  # its last attempt: a new challenge needs the password again

    # ---- spending one code --------------------------------------------------------------------------------

    def _spend(self, account: Account, code: str, ip: str) -> bool:
        """True when `code` is a current code of a step not used before, or an unused recovery code (then it is
        spent); failures count against the (account, IP) throttle, which raises RateLimited while it waits."""
        who = f"two-factor#{account.account_id}"
        self.throttle.check(who, ip, known_at_ip=True)
        spent = self._spend_totp(account, code) if is_totp_shaped(code) else self._spend_recovery(account, code, ip)
        if spent:
            self.throttle.forget(who, ip)
        else:
            self.throttle.record_failure(who, ip)
        return spent

    def _spend_totp(self, account: Account, code: str) -> bool:
        secret = account.totp_secret
        step = self._matching_step(secret, code) if secret else None
        if secret is None or step is None:
            return False
        return account_repo.spend_totp_step(account.account_id, secret, step)  # False: a replay

    def _spend_recovery(self, account: Account, code: str, ip: str) -> bool:
        hashed = sha256_hex(normalised_recovery_code(code))
        if not account_repo.spend_recovery_code(account.account_id, hashed):
            return False
        self._record(account, ActivityKind.RECOVERY_CODE_USED, ip)
        return True

    def _matching_step(self, secret: str, code: str) -> int | None:
        return matching_step(secret, code, self.clock.now())

    def _record(self, account: Account, kind: ActivityKind, ip: str) -> None:
        record_activity(account.account_id, kind, ip, clock=self.clock, retention_days=self.retention_days)


def _code_invalid() -> InvalidInput:
    return InvalidInput("That code is not right (or was used already). Enter the current code from your app, or "
                        "one of your recovery codes.", code="OTP_INVALID", details={"field": "otp_code"})
