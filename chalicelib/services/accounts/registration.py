"""Accounts: registration (unique email, agreement accepted), email verification, look-ups (who may spend is
`domain.accounts.require_can_spend`)."""
from __future__ import annotations

import random
import time

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account, AccountStatus
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from chalicelib.domain.ids import new_id
from chalicelib.providers.mailer import Mailer
from chalicelib.services.accounts import account_emails, security_emails
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.services.accounts.identity import email_claim_key, normalise_email
from chalicelib.services.accounts.one_time_tokens import OneTimeTokens, TokenPurpose, token_invalid
from chalicelib.services.accounts.passwords import Passwords
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.store import account_repo, claims, token_repo, transaction
from chalicelib.store.token_repo import OneTimeToken

_CREATE_ATTEMPTS = 5


def agreement_update_required(account: Account, current_version: str) -> bool:
    """Whether the account accepted neither the version in force nor a newer one."""
    accepted = account.agreement_version
    return not (accepted and accepted.isdigit() and int(accepted) >= int(current_version))


def check_current_agreement(version: str, settings: Settings, clock: Clock) -> None:
    """Raises InvalidInput (AGREEMENT_VERSION_NOT_CURRENT) unless `version` is in force or published after it."""
    from chalicelib.services.accounts.agreement_versions import AgreementVersions

    AgreementVersions(settings.agreement_version, clock).check_acceptable(version)


class AccountsService:
    def __init__(self, settings: Settings, clock: Clock, mailer: Mailer, passwords: Passwords | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.mailer = mailer
        self.passwords = passwords or Passwords()
        self.tokens = OneTimeTokens(clock)

    def register(self, email: str, password: str, agreement_version: str, ip: str) -> Account:
        """A new unverified account and its verification email; raises InvalidInput.

        An address that already has an account gets the same answer after the same work (the password is
        hashed anyway, an id is made): the returned account is a decoy never stored, whose random id no request
        can ever use, and the owner is emailed instead, so registering tells nobody who has an account here."""
        email = normalise_email(email)
        check_current_agreement(agreement_version, self.settings, self.clock)
        self.passwords.check_policy(password, email)
        now = self.clock.now()
        account = Account(new_id("acc"), email=email, password_hash=self.passwords.hash(password),
                          status=AccountStatus.UNVERIFIED, agreement_version=agreement_version,
                          agreement_accepted_at=now, agreement_accepted_ip=ip, created_at=now, created_ip=ip)
        token, row = self.tokens.new(account.account_id, TokenPurpose.VERIFY, self.settings.verify_token_ttl_seconds)
        try:
            self._create(account, row)
        except Conflict:
            self._tell_owner_of_registration_attempt(email, ip)
            return account
        record_activity(account.account_id, ActivityKind.REGISTERED, ip, {"agreement_version": agreement_version},
                        clock=self.clock, retention_days=self.settings.activity_retention_days)
        self._mail_verification(account, token)
        return account

    def create_verified_account(self, email: str, password: str | None = None) -> Account:
        """An active account made by an admin; without a password its owner sets one through 'forgot password'."""
        email = normalise_email(email)
        if password is not None:
            self.passwords.check_policy(password, email)
        account = Account(new_id("acc"), email=email, password_hash=self.passwords.hash(password) if password else None,
                          status=AccountStatus.ACTIVE, created_at=self.clock.now(), is_admin_created=True)
        self._create(account, None)
        return account

    def verify_email(self, token: str, ip: str) -> Account:
        """Spend a verification token and activate its account; raises InvalidInput (TOKEN_INVALID/EXPIRED)."""
        row = self.tokens.find(token, TokenPurpose.VERIFY)
        account = self.get(row.account_id)
        activate = (account_repo.changing(account.account_id, {"status": AccountStatus.ACTIVE},
                                          when={"status": AccountStatus.UNVERIFIED})
                    if account.status == AccountStatus.UNVERIFIED else None)
        try:
            transaction.commit([OneTimeTokens.spending(row), activate])
        except transaction.Refused:
            raise token_invalid() from None
        record_activity(account.account_id, ActivityKind.EMAIL_VERIFIED, ip, clock=self.clock,
                        retention_days=self.settings.activity_retention_days)
        return self.get(account.account_id)

    def resend_verification(self, email: str) -> None:
        """Mail a new verification link if the address has an unverified account; silent either way."""
        account = self.find_by_email(normalise_email(email))
        if account is None or account.status != AccountStatus.UNVERIFIED:
            return
        if self.tokens.may_mail(TokenPurpose.VERIFY.value, account.account_id):
            token = self.tokens.issue(account.account_id, TokenPurpose.VERIFY, self.settings.verify_token_ttl_seconds)
            self._mail_verification(account, token)

    def find_by_email(self, email: str) -> Account | None:
        """The account that owns this address (any case), or None; a malformed address owns nothing.

        An address without an account costs the same two reads (the second of an id nobody has), so the time
        of a sign-in or a reset says nothing about whether the address has an account."""
        return account_repo.read(self.owner_id(email) or new_id("acc"))

    def owner_id(self, email: str) -> str | None:
        """The id of the account that owns this address (any case), or None: one read of its claim."""
        try:
            key = email_claim_key(normalise_email(email))
        except InvalidInput:
            return None
        return claims.value_of(key)

    def get(self, account_id: str) -> Account:
        account = account_repo.read(account_id)
        if account is None:
            raise NotFound("Account not found.")
        return account

    def credentials(self) -> Credentials:
        return Credentials(self.clock, self.settings.session_ttl_seconds)

    def revoke_all_credentials(self, account_id: str) -> int:
        """Every session and API key of the account stops working at once (admin block, lock, withdrawal)."""
        return self.credentials().revoke_all(account_id)

    def _create(self, account: Account, token_row: OneTimeToken | None) -> None:
        # The email claim and the account commit together: of two racing registrations exactly one wins.
        # A loser may first see a TransactionConflict while the winner is in flight; retrying turns it
        # into the claim's condition failing, i.e. EMAIL_TAKEN.
        writes = [claims.claiming(email_claim_key(account.email), account.account_id, account.created_at),
                  account_repo.creating(account), token_repo.saving(token_row) if token_row is not None else None]
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                transaction.commit(writes)
                return
            except transaction.Refused as refused:
                if refused.codes[:1] == (transaction.CONDITION_FAILED,):
                    raise Conflict("An account with this email already exists. Sign in or reset your password.",
                                   code="EMAIL_TAKEN", details={"field": "email"}) from None
                if not refused.conflict or attempt == _CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))

    def _tell_owner_of_registration_attempt(self, email: str, ip: str) -> None:
        # As few calls as the new account's path makes (its transaction, its activity entry, its email), plus one
        # read and the once-a-minute mail claim.
        owner_id = self.owner_id(email)
        if owner_id is None:
            return  # the address was freed a moment ago (consent withdrawn): nobody to tell
        record_activity(owner_id, ActivityKind.REGISTRATION_ATTEMPTED, ip, clock=self.clock,
                        retention_days=self.settings.activity_retention_days)
        if self.tokens.may_mail(ActivityKind.REGISTRATION_ATTEMPTED.value, owner_id):
            account_emails.deliver(self.mailer, email,
                                   security_emails.registration_attempt(self.settings.public_base_url))

    def _mail_verification(self, account: Account, token: str) -> None:
        email = account_emails.verification(self.settings.public_base_url, token,
                                            self.settings.verify_token_ttl_seconds)
        account_emails.deliver(self.mailer, account.email, email)

