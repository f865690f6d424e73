"""Account states, ledger entry kinds and the account as a value: defined once, mapped to wire strings by adapters."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from chalicelib.domain.errors import AccountBlocked, AccountInactive, AccountRestricted, AccountUnverified


class AccountStatus(enum.StrEnum):
    UNVERIFIED = "unverified"
    ACTIVE = "active"
    LOCKED = "locked"  # the user reported unauthorized access (3.4); a password reset unlocks
    BLOCKED = "blocked"  # by an admin (7.3, 10.x)
    DEACTIVATED = "deactivated"  # consent withdrawn (12.3)


class LedgerKind(str, enum.Enum):
    TOP_UP = "top_up"
    ACTIVATION_CHARGE = "activation_charge"
    ACTIVATION_REFUND = "activation_refund"
    RENTAL_CHARGE = "rental_charge"  # cause: "<rental id>" for the rent, "<rental id>:<n>" for extension n
    RENTAL_REFUND = "rental_refund"  # cause: the charge's cause (an extension refused), or "<rental id>" (all of it)
    REFUND_PAYOUT = "refund_payout"
    CARD_REFUND = "card_refund"  # a refund issued in Stripe directly (charge.refunded)
    REFUND_REVERSAL = "refund_reversal"  # a card refund Stripe reported failed: its amount back
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"
    FORFEITURE = "forfeiture"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class Account:
    """An account as read: the `accounts` table's attributes under the same names, typed (store/account_repo.py maps
    the row; store/accounts.py says what each attribute means). A value: a change is a repository call, which
    returns the account as written."""

    account_id: str
    email: str
    status: AccountStatus
    created_at: float
    password_hash: str | None = None
    balance_cents: int = 0
    held_cents: int = 0
    version: int = 0
    ledger_seq: int = 0
    spendable_cents: int | None = None
    ledger_floor: int | None = None
    credit_last: int | None = None
    sealed_seq: int | None = None
    sealed_count: int | None = None
    sealed_balance_cents: int | None = None
    agreement_version: str | None = None
    agreement_accepted_at: float | None = None
    agreement_accepted_ip: str | None = None
    agreement_accepted_request: str | None = None
    created_ip: str | None = None
    stripe_customer_id: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_events: frozenset[str] | None = None
    status_reason: str | None = None
    is_admin_created: bool = False
    has_bad_numbers: bool | None = None
    sessions_valid_after: float | None = None
    keys_valid_after: float | None = None
    reconcile_due_at: float | None = None
    reconcile_shard: str | None = None
    reset_generation: int | None = None
    sign_in_ips: tuple[str, ...] | None = None
    sign_in_devices: tuple[str, ...] | None = None
    trusted_devices: tuple[str, ...] | None = None
    totp_secret: str | None = None
    totp_pending_secret: str | None = None
    totp_last_step: int | None = None
    recovery_codes: frozenset[str] | None = None
    free_text_due: bool | None = None
    free_text_removed_at: float | None = None
    live_until: float | None = None  # a page of the account listens for live updates until then

    @property
    def available_cents(self) -> int:
        """What may be spent or withdrawn: the balance less what pending refund requests hold."""
        return self.balance_cents - self.held_cents


def require_can_spend(account: Account) -> None:
    """Ordering, renting and top-ups call this first: raises AccountUnverified (403 EMAIL_NOT_VERIFIED),
    AccountBlocked, AccountInactive (locked, deactivated) or AccountRestricted (balance below zero after a dispute)."""
    status = account.status
    if status == AccountStatus.UNVERIFIED:
        raise AccountUnverified("Confirm your email address first: follow the link we sent you, or ask for a new one.")
    if status == AccountStatus.BLOCKED:
        raise AccountBlocked("This account is blocked.")
    if status != AccountStatus.ACTIVE:
        raise AccountInactive("This account cannot be used now.")
    if account.balance_cents < 0:
        raise AccountRestricted("Your balance is below zero after a payment dispute; top up to use the service again.")
