"""Signing in and out, and regaining access through an emailed password-reset link."""
from __future__ import annotations

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.errors import AccountInactive, InvalidInput, Unauthenticated
from chalicelib.services import account_emails
from chalicelib.services.accounts import AccountsService
from chalicelib.services.activity import ActivityKind, record_activity
from chalicelib.services.authn import refusal
from chalicelib.services.identity import normalise_email
from chalicelib.services.login_throttle import SignInThrottle
from chalicelib.services.one_time_tokens import OneTimeTokens, TokenPurpose, token_invalid
from chalicelib.services.sessions import SESSION, Credentials, IssuedSession
from chalicelib.store.accounts import Account
from chalicelib.store.base import connection

# Who may sign in or reset a password; a reset also proves the email (verifies) and lifts a lock.
_RESETTABLE = (AccountStatus.ACTIVE.value, AccountStatus.UNVERIFIED.value, AccountStatus.LOCKED.value)


class SignIn:
    def __init__(self, accounts: AccountsService) -> None:
        self.accounts = accounts
        self.settings = accounts.settings
        self.clock = accounts.clock
        self.passwords = accounts.passwords
        self.throttle = SignInThrottle(accounts.clock, ip_free_failures=accounts.settings.login_ip_free_failures)
        self.credentials = Credentials(accounts.clock, accounts.settings.session_ttl_seconds)
        self.tokens = OneTimeTokens(accounts.clock)

    def login(self, email: str, password: str, ip: str) -> IssuedSession:
        """A new session; raises Unauthenticated (INVALID_CREDENTIALS), RateLimited, AccountBlocked, AccountInactive.

        An unknown email and a wrong password give the same error after the same argon2 work."""
        email = normalise_email(email)
        self.throttle.check(email, ip)
        account = self.accounts.find_by_email(email)
        if not self.passwords.verify(account.password_hash if account else None, password):
            self.throttle.record_failure(email, ip)
            if account is not None:
                self._record(account.account_id, ActivityKind.SIGN_IN_FAILED, ip)
            raise Unauthenticated("Wrong email or password.", code="INVALID_CREDENTIALS")
        assert account is not None and account.password_hash is not None
        refused = refusal(account.status)
        if refused is not None:
            raise refused
        self.throttle.forget(email)
        self._rehash_if_outdated(account, account.password_hash, password)
        session = self.credentials.issue_session(account.account_id)
        self._record(account.account_id, ActivityKind.SIGN_IN, ip, {"session": session.key_id})
        return session

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

    def forgot_password(self, email: str) -> None:
        """Mail a reset link if the address has an account that may reset; silent either way (no enumeration)."""
        account = self.accounts.find_by_email(normalise_email(email))
        if account is None or account.status not in _RESETTABLE:
            return
        if self.tokens.may_mail(TokenPurpose.RESET, account.account_id):
            token = self.tokens.issue(account.account_id, TokenPurpose.RESET, self.settings.reset_token_ttl_seconds)
            message = account_emails.password_reset(self.settings.public_base_url, token,
                                                    self.settings.reset_token_ttl_seconds)
            account_emails.deliver(self.accounts.mailer, account.email, message)

    def reset_password(self, token: str, password: str, ip: str) -> Account:
        """Set a new password with a reset token: unlocks a locked account and ends every session.

        Raises InvalidInput (TOKEN_INVALID, TOKEN_EXPIRED, WEAK_PASSWORD) before anything is written."""
        row = self.tokens.find(token, TokenPurpose.RESET)
        account = self.accounts.get(row.account_id)
        self.passwords.check_policy(password, account.email)
        if account.status not in _RESETTABLE:
            raise refusal(account.status) or AccountInactive("This account cannot be used.")
        new_hash = self.passwords.hash(password)
        try:
            with TransactWrite(connection=connection()) as tx:
                OneTimeTokens.spend(tx, row)
                tx.update(account, actions=[Account.password_hash.set(new_hash),
                                            Account.status.set(AccountStatus.ACTIVE.value),
                                            Account.status_reason.remove()],
                          condition=Account.status.is_in(*_RESETTABLE))
        except TransactWriteError:
            raise token_invalid() from None
        self.credentials.revoke_sessions(account.account_id)
        self.throttle.forget(account.email)
        self._record(account.account_id, ActivityKind.PASSWORD_RESET, ip,
                     {"unlocked": account.status == AccountStatus.LOCKED.value})
        return self.accounts.get(account.account_id)

    def _rehash_if_outdated(self, account: Account, current_hash: str, password: str) -> None:
        if not self.passwords.needs_rehash(current_hash):
            return
        try:
            account.update(actions=[Account.password_hash.set(self.passwords.hash(password))],
                           condition=Account.password_hash == current_hash)
        except UpdateError:
            pass  # the password changed meanwhile: the newer hash wins

    def _record(self, account_id: str, kind: ActivityKind, ip: str, detail: dict[str, object] | None = None) -> None:
        record_activity(account_id, kind, ip, detail, clock=self.clock,
                        retention_days=self.settings.activity_retention_days)
