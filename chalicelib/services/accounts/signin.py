"""Signing in and out: the (email, IP) throttle, one session per sign-in, and an email when it is from a new place."""
from __future__ import annotations

from dataclasses import replace

from chalicelib.domain.accounts import Account
from chalicelib.domain.errors import Forbidden, InvalidInput, Unauthenticated
from chalicelib.services.accounts import account_emails, known_clients, security_emails, two_factor
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.services.accounts.authn import refusal
from chalicelib.services.accounts.identity import normalise_email
from chalicelib.services.accounts.login_throttle import SignInThrottle
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.accounts.sessions import SESSION, Credentials, IssuedSession
from chalicelib.services.accounts.two_factor import Challenge, TwoFactor
from chalicelib.store import account_repo, transaction

REAUTHENTICATED_WITHIN_SECONDS = 15 * 60  # how recent a sign-in must be to sign other sessions out


class SignIn:
    def __init__(self, accounts: AccountsService) -> None:
        self.accounts = accounts
        self.settings = accounts.settings
        self.clock = accounts.clock
        self.passwords = accounts.passwords
        self.throttle = SignInThrottle(accounts.clock, ip_free_failures=accounts.settings.login_ip_free_failures)
        self.credentials = Credentials(accounts.clock, accounts.settings.session_ttl_seconds)
        self.two_factor = TwoFactor(accounts.clock, self.throttle, accounts.settings.activity_retention_days)

    def login(self, email: str, password: str, ip: str, user_agent: str | None = None,
              device_token: str | None = None) -> IssuedSession | Challenge:
        """A new session and the device token for this browser's next sign-in, or when two-factor sign-in is on a
        challenge to answer with a code (complete_mfa); raises Unauthenticated (INVALID_CREDENTIALS), RateLimited,
        AccountBlocked, AccountInactive.

        An unknown email and a wrong password give the same error after the same argon2 work."""
        email = normalise_email(email)
        account = self.accounts.find_by_email(email)
        trusted = known_clients.trusted_device(account, device_token)
        self.throttle.check(email, ip, known_at_ip=known_clients.known_at(account, ip), trusted_device=trusted)
        if not self.passwords.verify(account.password_hash if account else None, password):
            self.throttle.record_failure(email, ip, trusted)
            if account is not None:
                self._record(account.account_id, ActivityKind.SIGN_IN_FAILED, ip)
            raise Unauthenticated("Wrong email or password.", code="INVALID_CREDENTIALS")
        assert account is not None and account.password_hash is not None
        refused = refusal(account.status)
        if refused is not None:
            raise refused
        self.throttle.forget(email, ip, trusted)
        self._rehash_if_outdated(account, account.password_hash, password)
        if two_factor.is_on(account):
            return self.two_factor.challenge(account.account_id)
        return self._start_session(account, ip, user_agent, device_token)

    def complete_mfa(self, mfa_token: str, code: str, ip: str, user_agent: str | None = None,
                     device_token: str | None = None) -> IssuedSession:
        """The session of a sign-in whose password was right, once `code` (a current or a recovery code) answers
        its challenge; raises Unauthenticated (MFA_FAILED, alike for every failure), RateLimited, AccountBlocked."""
        account = self.two_factor.pass_challenge(mfa_token, code, ip)
        refused = refusal(account.status)
        if refused is not None:
            raise refused
        return self._start_session(account, ip, user_agent, device_token)

    def confirm_password(self, account: Account, password: str, ip: str) -> None:
        """A signed-in owner proves it is them before changing how they sign in (ASVS 7.5.1). Wrong guesses count
        against the (email, IP) throttle like sign-ins. Raises InvalidInput (WRONG_PASSWORD), RateLimited."""
        self.throttle.check(account.email, ip, known_at_ip=True)
        if not self.passwords.verify(account.password_hash, password):
            self.throttle.record_failure(account.email, ip)
            raise InvalidInput("That is not your current password.", code="WRONG_PASSWORD",
                               details={"field": "current_password"})

    def _start_session(self, account: Account, ip: str, user_agent: str | None,
                       device_token: str | None) -> IssuedSession:
        device = known_clients.device_of(user_agent)
        session = self.credentials.issue_session(account.account_id, ip, device)
        self._record(account.account_id, ActivityKind.SIGN_IN, ip, {"session": session.key_id})
        remembered = known_clients.remember(account, ip, device, device_token)
        if remembered.new_place:
            account_emails.deliver(self.accounts.mailer, account.email, security_emails.new_sign_in(
                self.settings.public_base_url, self.clock.now(), ip, device))
        return replace(session, device_token=remembered.device_token)

    def logout(self, account_id: str, credential_kind: str, token_hash: str, ip: str) -> None:
        if credential_kind != SESSION:
            raise InvalidInput("Signing out ends a session; revoke an API key with DELETE /v1/api-keys/{key_id}.",
                               code="NOT_A_SESSION")
        self.credentials.revoke(token_hash)
        self._record(account_id, ActivityKind.SIGN_OUT, ip)

    def logout_everywhere(self, account_id: str, ip: str) -> int:
        """Every session of the account ends (API keys stay); returns how many there were."""
        count = self.credentials.revoke_sessions(account_id)
        self._record(account_id, ActivityKind.SIGN_OUT_EVERYWHERE, ip, {"sessions": count})
        return count

    def revoke_session(self, account: Account, session_id: str, caller_token_hash: str, ip: str) -> None:
        """One session of the sessions list ends. The caller's own always may; another only from a session signed
        in within the last minutes (ASVS 7.5.2), so a stolen old token cannot sign its owner out. Raises NotFound
        (SESSION_NOT_FOUND), Forbidden (REAUTHENTICATION_REQUIRED)."""
        caller = self.credentials.find(caller_token_hash)
        stale = caller is None or self.clock.now() - caller.created_at > REAUTHENTICATED_WITHIN_SECONDS
        if stale and (caller is None or caller.key_id != session_id):
            raise Forbidden(f"To sign another session out, sign in again first: it must be done within "
                            f"{REAUTHENTICATED_WITHIN_SECONDS // 60} minutes of signing in.",
                            code="REAUTHENTICATION_REQUIRED")
        self.credentials.revoke_session(account, session_id)
        self._record(account.account_id, ActivityKind.SESSION_REVOKED, ip, {"session": session_id})

    def _rehash_if_outdated(self, account: Account, current_hash: str, password: str) -> None:
        if not self.passwords.needs_rehash(current_hash):
            return
        try:
            account_repo.change(account.account_id, {"password_hash": self.passwords.hash(password)},
                                when={"password_hash": current_hash})
        except transaction.Refused:
            pass  # the password changed meanwhile: the newer hash wins

    def _record(self, account_id: str, kind: ActivityKind, ip: str, detail: dict[str, object] | None = None) -> None:
        record_activity(account_id, kind, ip, detail, clock=self.clock,
                        retention_days=self.settings.activity_retention_days)
