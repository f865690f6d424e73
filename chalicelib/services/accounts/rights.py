"""The account holder's rights under the agreement: report unauthorized access (3.4), leave (4.2, 12.3),
accept a new agreement version (13)."""
from __future__ import annotations

from chalicelib.domain.accounts import Account, AccountStatus
from chalicelib.domain.errors import AccountInactive, Conflict
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.services.accounts.free_text import FreeText
from chalicelib.services.accounts.identity import email_claim_key
from chalicelib.services.accounts.one_time_tokens import OneTimeTokens
from chalicelib.services.accounts.registration import AccountsService, account_emails, check_current_agreement
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.store import account_repo, claims, transaction

_USABLE = (AccountStatus.ACTIVE, AccountStatus.UNVERIFIED)


class AccountRights:
    def __init__(self, accounts: AccountsService) -> None:
        self.accounts = accounts
        self.settings = accounts.settings
        self.clock = accounts.clock
        self.credentials = Credentials(accounts.clock, accounts.settings.session_ttl_seconds)
        self.tokens = OneTimeTokens(accounts.clock)

    def report_unauthorized(self, account: Account, ip: str) -> None:
        """Lock the account now, revoke every session and key, and email a reset link that unlocks it."""
        try:
            account_repo.change(account.account_id, {"status": AccountStatus.LOCKED,
                                                     "status_reason": "unauthorized access reported by the user"},
                                when={"status": _USABLE})
        except transaction.Refused:
            raise AccountInactive("This account cannot be locked in its current state.") from None
        self.credentials.revoke_all(account.account_id)
        self._record(account.account_id, ActivityKind.UNAUTHORIZED_ACCESS_REPORTED, ip)
        ttl = self.settings.reset_token_ttl_seconds
        token = self.tokens.issue_reset(account.account_id, ttl)
        account_emails.deliver(self.accounts.mailer, account.email,
                               account_emails.account_locked(self.settings.public_base_url, token, ttl))

    def withdraw_consent(self, account: Account, ip: str) -> None:
        """Deactivate the account, revoke its credentials and keep only what 11.1 allows.

        Spendable money must be claimed first through a refund request (6.3): raises Conflict
        (BALANCE_REMAINING) while some is left. A pending request's held money stays in its process."""
        account = self.accounts.get(account.account_id)  # consistent: the balance check must see every payment
        available = account.available_cents
        if available > 0:
            raise Conflict(f"You still have {available} cents on your balance. Request a refund of it first "
                           "(POST /v1/refund-requests), then withdraw your consent.", code="BALANCE_REMAINING",
                           details={"available_cents": available})
        original_email = account.email
        self._deactivate(account)
        self.credentials.revoke_all(account.account_id)
        self._record(account.account_id, ActivityKind.CONSENT_WITHDRAWN, ip)
        FreeText(self.clock).minimise(account.account_id)
        account_emails.deliver(self.accounts.mailer, original_email, account_emails.consent_withdrawn())

    def accept_agreement(self, account: Account, version: str, ip: str) -> Account:
        """Record that the user accepts the agreement version in force (or a newer one), with time and IP."""
        check_current_agreement(version, self.settings, self.clock)
        accepted = account_repo.change(account.account_id, {
            "agreement_version": version, "agreement_accepted_at": self.clock.now(), "agreement_accepted_ip": ip,
            "agreement_accepted_request": None})
        self._record(account.account_id, ActivityKind.AGREEMENT_ACCEPTED, ip, {"version": version})
        return accepted

    def _deactivate(self, account: Account) -> None:
        # Personal data goes (email, password, webhook, sign-up IP); the email is freed for a new sign-up.
        # The version condition fails if money moved since the balance was checked.
        deactivate = account_repo.changing(account.account_id, {
            "status": AccountStatus.DEACTIVATED, "status_reason": "consent withdrawn by the user",
            "email": f"withdrawn+{account.account_id}@invalid", "password_hash": None, "webhook_url": None,
            "webhook_secret": None, "created_ip": None, "sign_in_ips": None, "sign_in_devices": None,
            "trusted_devices": None}, when={"version": account.version, "status": _USABLE})
        try:
            transaction.commit([deactivate, claims.releasing(email_claim_key(account.email), account.account_id)])
        except transaction.Refused:
            raise Conflict("Your account changed meanwhile (a payment or order?). Please try again.",
                           code="ACCOUNT_CHANGED") from None

    def _record(self, account_id: str, kind: ActivityKind, ip: str, detail: dict[str, object] | None = None) -> None:
        record_activity(account_id, kind, ip, detail, clock=self.clock,
                        retention_days=self.settings.activity_retention_days)
