"""Admin actions on accounts: create, show, block (7.3, 10.1–10.3), unblock, adjust; each one audited."""
from __future__ import annotations

from typing import Any, Protocol

from chalicelib.domain.accounts import Account, AccountStatus, LedgerKind
from chalicelib.domain.activation import Activation
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from chalicelib.domain.ids import new_id
from chalicelib.providers.mailer import Mailer
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.admin.audit import AuditLog, AuditRecord
from chalicelib.services.money.forfeiture import Forfeiture
from chalicelib.services.money.wallet import Wallet
from chalicelib.store import account_repo, transaction


class ActivationRevoker(Protocol):
    """How admin actions end activations (services.activations.Activations): REVOKED, refunded per the
    policy, the partner told."""

    def revoke(self, activation_id: int) -> Activation: ...

    def active_for_account(self, account_id: str) -> list[Activation]: ...


class AccountAdmin:
    def __init__(self, accounts: AccountsService, wallet: Wallet, audit: AuditLog, mailer: Mailer,
                 activations: ActivationRevoker, forfeiture: Forfeiture) -> None:
        self.accounts = accounts
        self.wallet = wallet
        self.audit = audit
        self.mailer = mailer
        self.activations = activations
        self.forfeiture = forfeiture

    def find(self, email: str) -> Account:
        """The account of an address; NotFound (exit 1 in the CLI) when there is none."""
        account = self.accounts.find_by_email(email)
        if account is None:
            raise NotFound(f"No account has the email {email!r}.", code="ACCOUNT_NOT_FOUND")
        return account

    def create_account(self, email: str, *, verified: bool, actor: str, balance_cents: int = 0,
                       password: str | None = None) -> dict[str, Any]:
        """An active account (operators and tests), with an optional opening balance as a ledger adjustment."""
        if not verified:
            raise InvalidInput("Admins create verified accounts only: pass --verified. Unverified accounts come "
                               "from registration.", details={"field": "verified"})
        if balance_cents < 0:
            raise InvalidInput("An opening balance cannot be negative.", details={"field": "balance_cents"})
        account = self.accounts.create_verified_account(email, password)
        self.audit.record(AuditRecord(account.account_id, "create-account", actor,
                                      after={"email": account.email, "status": account.status,
                                             "password_set": password is not None}))
        if balance_cents:
            record = AuditRecord(account.account_id, "adjust", actor, reason="opening balance",
                                 before={"balance_cents": 0}, after={"balance_cents": balance_cents})
            self.wallet.post(account.account_id, balance_cents, LedgerKind.ADJUSTMENT,
                             f"opening#{account.account_id}", memo="opening balance",
                             extra=self.audit.joining(record))
        return self.show(account.email)

    def show(self, email: str) -> dict[str, Any]:
        return summary(self.find(email))

    def adjust(self, email: str, amount_cents: int, reason: str, actor: str) -> dict[str, Any]:
        """A signed ledger adjustment; one that would take the spendable balance below zero writes nothing."""
        if amount_cents == 0:
            raise InvalidInput("An adjustment of 0 changes nothing.", details={"field": "amount_cents"})
        account = self.find(email)
        before = account.balance_cents
        if account.available_cents + amount_cents < 0:
            raise InsufficientBalance(
                f"The adjustment would take the balance below zero: {account.email} has {before} cents "
                f"({account.held_cents} held).", details={"balance_cents": before})
        cause = new_id("adj")
        record = AuditRecord(account.account_id, "adjust", actor, reason=reason,
                             before={"balance_cents": before},
                             after={"balance_cents": before + amount_cents, "ledger_cause": cause})
        posting = self.wallet.sealed(self.wallet.post(account.account_id, amount_cents, LedgerKind.ADJUSTMENT,
                                                      cause, memo=reason, extra=self.audit.joining(record)))
        return {**self.show(account.email), "ledger_entry": {"seq": posting.seq, "amount_cents": amount_cents,
                                                             "balance_after_cents": posting.balance_after_cents,
                                                             "cause_id": cause}}

    def block(self, email: str, reason: str, actor: str) -> dict[str, Any]:
        """Block (7.3, 10.1–10.3): no more sign-in or orders, credentials revoked, activations ended per the
        refund policy, the remaining balance forfeited, the user told why.

        A second block of a fully blocked account is refused and writes nothing. One that an earlier block
        left unfinished (it failed midway, or money arrived since, e.g. a late card payment) is finished.
        """
        account = self.find(email)
        first = account.status != AccountStatus.BLOCKED
        if first:
            # Blocked first: from here no sign-in, key or order gets through (authn and the wallet check it).
            self._set_status(account, AccountStatus.BLOCKED, reason, AuditRecord(
                account.account_id, "block", actor, reason=reason, before=_status_of(account),
                after={"status": AccountStatus.BLOCKED, "status_reason": reason}))
        elif not self._left_to_take(account):
            raise _already(account, AccountStatus.BLOCKED)
        outcome = self._take_everything(account.account_id, reason, actor)
        after = self.accounts.get(account.account_id)
        self.audit.record(AuditRecord(account.account_id, "block-completed", actor, reason=reason,
                                      before=_status_of(account), after={**_status_of(after), **outcome}))
        if first:
            self._mail_block(account, reason)
        return {"account": summary(after), **outcome}

    def _take_everything(self, account_id: str, reason: str, actor: str) -> dict[str, Any]:
        """Revoke credentials and numbers, then forfeit what is left; each step is safe to repeat."""
        credentials = self.accounts.revoke_all_credentials(account_id)
        revoked = [self.activations.revoke(a.activation_id)
                   for a in self.activations.active_for_account(account_id)]
        forfeited = self.forfeiture.forfeit_balance(account_id, f"account blocked: {reason}", actor)
        return {"credentials_revoked": credentials,
                "activations_revoked": [{"id": a.activation_id, "status": a.status} for a in revoked],
                "forfeited_cents": -forfeited.amount_cents if forfeited else 0}

    def _left_to_take(self, account: Account) -> bool:
        return (account.balance_cents > 0 or account.held_cents > 0
                or bool(self.activations.active_for_account(account.account_id)))

    def sign_out(self, email: str, reason: str, actor: str, *, api_keys_too: bool) -> dict[str, Any]:
        """Every session of the account ends now (and its API keys when asked); nothing else changes (ASVS 7.4.5):
        for a stolen session, short of blocking the account."""
        account = self.find(email)
        self.accounts.credentials().sign_out_everywhere(account.account_id, api_keys_too=api_keys_too)
        self.audit.record(AuditRecord(account.account_id, "sign-out", actor, reason=reason,
                                      after={"sessions_revoked": True, "api_keys_revoked": api_keys_too}))
        return {"account": summary(self.accounts.get(account.account_id)), "sessions_revoked": True,
                "api_keys_revoked": api_keys_too}

    def unblock(self, email: str, reason: str | None, actor: str) -> dict[str, Any]:
        account = self.find(email)
        if account.status != AccountStatus.BLOCKED:
            raise Conflict(f"{account.email} is not blocked (status: {account.status}).", code="NOT_BLOCKED")
        self._set_status(account, AccountStatus.ACTIVE, None, AuditRecord(
            account.account_id, "unblock", actor, reason=reason, before=_status_of(account),
            after={"status": AccountStatus.ACTIVE, "status_reason": None}))
        return summary(self.accounts.get(account.account_id))

    def _set_status(self, account: Account, status: AccountStatus, reason: str | None, record: AuditRecord) -> None:
        """Change the status and write the audit entry in one transaction, only from the status we read."""
        if account.status == status:
            raise _already(account, status)
        change = account_repo.changing(account.account_id, {"status": status, "status_reason": reason or None},
                                       when={"status": account.status})
        try:
            transaction.commit([change, self.audit.joining(record)])
        except transaction.Refused:
            raise Conflict(f"{account.email} changed while this ran; run the command again.") from None

    def _mail_block(self, account: Account, reason: str) -> None:
        body = (f"Your SMS Rooms account ({account.email}) has been blocked.\n\nReason: {reason}\n\n"
                "Under the user agreement (7.3, 10.1–10.3) a blocked account can no longer sign in or order "
                "numbers, and its remaining balance is forfeited. If you think this is a mistake, answer this "
                "email: your answer reaches our support team.\n")
        self.mailer.send(account.email, "Your SMS Rooms account has been blocked", body)


def _already(account: Account, status: AccountStatus) -> Conflict:
    because = f" ({account.status_reason})" if account.status_reason else ""
    return Conflict(f"{account.email} is already {status.value}{because}.", code=f"ALREADY_{status.name}")


def summary(account: Account) -> dict[str, Any]:
    return {
        "account_id": account.account_id, "email": account.email, "status": account.status,
        "status_reason": account.status_reason, "balance_cents": account.balance_cents,
        "held_cents": account.held_cents, "ledger_entries": account.ledger_seq,
        "created_at": iso(account.created_at), "admin_created": account.is_admin_created,
        "agreement_version": account.agreement_version,
    }


def _status_of(account: Account) -> dict[str, Any]:
    return {"status": account.status, "status_reason": account.status_reason,
            "balance_cents": account.balance_cents}
