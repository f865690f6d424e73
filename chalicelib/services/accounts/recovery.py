"""Regaining and changing a password: emailed reset links (only the newest unused one works), the change while
signed in (current password required), and what each revokes: every session always, the API keys unless the
owner chooses to keep them, and always after a report of unauthorized access (the account is locked then)."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.accounts import Account, AccountStatus
from chalicelib.domain.errors import AccountInactive, Conflict
from chalicelib.domain.ids import sha256_hex
from chalicelib.services.accounts import account_emails, known_clients, security_emails
from chalicelib.services.accounts.account_emails import Email
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.services.accounts.authn import refusal
from chalicelib.services.accounts.identity import normalise_email
from chalicelib.services.accounts.one_time_tokens import TokenPurpose, supersede_reset_links, token_invalid
from chalicelib.services.accounts.sessions import IssuedSession
from chalicelib.services.accounts.signin import SignIn
from chalicelib.store import account_repo, transaction

# Who may reset a password; a reset also proves the email (verifies) and lifts a lock.
_RESETTABLE = (AccountStatus.ACTIVE, AccountStatus.UNVERIFIED, AccountStatus.LOCKED)


@dataclass(frozen=True)
class PasswordReset:
    account: Account
    api_keys_revoked: bool


@dataclass(frozen=True)
class PasswordChange:
    session: IssuedSession  # the caller's new session: every earlier one, theirs included, was signed out
    api_keys_revoked: bool


class Recovery:
    def __init__(self, signin: SignIn) -> None:
        self.accounts = signin.accounts
        self.settings = signin.settings
        self.clock = signin.clock
        self.passwords = signin.passwords
        self.throttle = signin.throttle
        self.credentials = signin.credentials
        self.tokens = signin.accounts.tokens
        self.signin = signin
        self.two_factor = signin.two_factor

    def forgot_password(self, email: str) -> None:
        """Mail a reset link if the address has an account that may reset, else a note saying why there is none:
        one email whichever it is (at most one a minute an address), so answer and work say nothing about it."""
        email = normalise_email(email)
        account = self.accounts.find_by_email(email)
        if self.tokens.may_mail(TokenPurpose.RESET.value, sha256_hex(email)):
            account_emails.deliver(self.accounts.mailer, email, self._reset_email(account))

    def reset_password(self, token: str, password: str, ip: str, *, revoke_api_keys: bool,
                       otp_code: str | None = None) -> PasswordReset:
        """Set a new password with the newest reset link: unlocks a locked account, ends every session, and
        revokes the API keys when asked or when the account was locked. With two-factor sign-in on, the link
        alone is not enough: `otp_code` (a current or recovery code) must go with it (ASVS 6.4.3). Raises
        InvalidInput (TOKEN_INVALID, TOKEN_EXPIRED, WEAK_PASSWORD, OTP_INVALID), Forbidden (OTP_REQUIRED) before
        anything is written."""
        row, account = self.tokens.find_reset(token, self.accounts.get)
        self.passwords.check_policy(password, account.email)
        self.two_factor.require(account, otp_code, ip)
        if account.status not in _RESETTABLE:
            raise refusal(account.status) or AccountInactive("This account cannot be used.")
        new_hash = self.passwords.hash(password)
        stale_links, unchanged = supersede_reset_links(account)
        reset = account_repo.changing(account.account_id, {"password_hash": new_hash, "status": AccountStatus.ACTIVE,
                                                           "status_reason": None},
                                      add=stale_links, when={"status": _RESETTABLE, **unchanged})
        try:
            transaction.commit([self.tokens.spending(row), reset])
        except transaction.Refused:
            raise token_invalid() from None
        was_locked = account.status == AccountStatus.LOCKED
        keys_revoked = revoke_api_keys or was_locked
        self.credentials.sign_out_everywhere(account.account_id, api_keys_too=keys_revoked)
        self.throttle.forget(account.email, ip)
        self._changed(account, ActivityKind.PASSWORD_RESET, ip, keys_revoked, {"unlocked": was_locked})
        return PasswordReset(account=self.accounts.get(account.account_id), api_keys_revoked=keys_revoked)

    def change_password(self, account: Account, current_password: str, new_password: str, ip: str,
                        user_agent: str | None, *, revoke_api_keys: bool) -> PasswordChange:
        """A signed-in owner's new password: the current one is required (guesses count against the (email, IP)
        throttle like sign-ins), every session ends and this client gets a new one, earlier reset links die,
        and the API keys are revoked when asked. Raises InvalidInput (WRONG_PASSWORD, WEAK_PASSWORD), RateLimited."""
        self.signin.confirm_password(account, current_password, ip)
        self.passwords.check_policy(new_password, account.email)
        stale_links, unchanged = supersede_reset_links(account)
        try:
            account_repo.change(account.account_id, {"password_hash": self.passwords.hash(new_password)},
                                add=stale_links, when={"password_hash": account.password_hash, **unchanged})
        except transaction.Refused:
            raise Conflict("Your password or reset links changed meanwhile. Please try again.",
                           code="ACCOUNT_CHANGED") from None
        session = self.credentials.restart_sessions(account.account_id, ip, known_clients.device_of(user_agent),
                                                    api_keys_too=revoke_api_keys)
        self._changed(account, ActivityKind.PASSWORD_CHANGED, ip, revoke_api_keys, {"session": session.key_id})
        return PasswordChange(session=session, api_keys_revoked=revoke_api_keys)

    def _reset_email(self, account: Account | None) -> Email:
        base, ttl = self.settings.public_base_url, self.settings.reset_token_ttl_seconds
        if account is None:
            self.tokens.issue_decoy_reset(ttl)
            return security_emails.reset_without_account(base)
        if account.status not in _RESETTABLE:
            self.tokens.issue_decoy_reset(ttl)
            return security_emails.reset_refused_blocked(base)
        return account_emails.password_reset(base, self.tokens.issue_reset(account.account_id, ttl), ttl)

    def _changed(self, account: Account, kind: ActivityKind, ip: str, keys_revoked: bool,
                 detail: dict[str, object]) -> None:
        record_activity(account.account_id, kind, ip, {**detail, "api_keys_revoked": keys_revoked}, clock=self.clock,
                        retention_days=self.settings.activity_retention_days)
        account_emails.deliver(self.accounts.mailer, account.email, security_emails.password_changed(
            self.settings.public_base_url, self.clock.now(), ip, keys_revoked))
