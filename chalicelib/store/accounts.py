"""Accounts, credentials (sessions, API keys), one-time tokens (verify, reset) and sign-in throttles."""
from __future__ import annotations

import zlib

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.base import table


class UnreconciledAccounts(GlobalSecondaryIndex["Account"]):
    """Sparse: only accounts whose money moved since reconciliation last checked them carry `reconcile_due_at`.

    Keys only, and the posting sets the keys only when absent, so later postings do not write the index again.
    The shard (the account id's last hex digit) spreads the index's writes over 16 partition keys.
    """

    class Meta:
        index_name = "unreconciled"
        projection = KeysOnlyProjection()

    reconcile_shard = UnicodeAttribute(hash_key=True)
    reconcile_due_at = NumberAttribute(range_key=True)


def reconcile_shard(account_id: str) -> str:
    """The account's partition key in the `unreconciled` index: one of 16, stable for the account."""
    return f"{zlib.crc32(account_id.encode()) % 16:x}"


@table("accounts")
class Account(Model):
    class Meta:
        table_name = "accounts"

    account_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    password_hash = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # domain.accounts.AccountStatus value
    balance_cents = NumberAttribute(default=0)
    held_cents = NumberAttribute(default=0)  # pending refund requests: not spendable
    version = NumberAttribute(default=0)  # bumped by every money change; the compare-and-set guard
    ledger_seq = NumberAttribute(default=0)  # number of ledger entries
    # Read-free postings (services/money/wallet.py); None on accounts no posting touched since they came:
    # balance - held, what a debit's condition compares (a condition cannot subtract);
    spendable_cents = NumberAttribute(null=True)
    # postings with a key at or below the floor are refused: the ledger up to it is final (a reader raises it);
    ledger_floor = NumberAttribute(null=True)
    # the key of the newest credit: a debit keyed below it is refused, so no debit sorts before money it spent;
    credit_last = NumberAttribute(null=True)
    # how far balance_after is written: up to this key, that many entries, and the balance after them.
    sealed_seq = NumberAttribute(null=True)
    sealed_count = NumberAttribute(null=True)
    sealed_balance_cents = NumberAttribute(null=True)
    agreement_version = UnicodeAttribute(null=True)
    agreement_accepted_at = NumberAttribute(null=True)
    agreement_accepted_ip = UnicodeAttribute(null=True)
    # The request that showed continued use after the version took effect (13.3); absent when accepted in words.
    agreement_accepted_request = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    created_ip = UnicodeAttribute(null=True)
    stripe_customer_id = UnicodeAttribute(null=True)
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret = UnicodeAttribute(null=True)
    # The event types the webhook subscribes to (domain.webhook_events); None: saved before the choice, SMS only.
    webhook_events = UnicodeSetAttribute(null=True)
    # Until when a page of this account may hold a live (WebSocket) connection: an SMS looks its connections up
    # only before then, so accounts nobody watches cost no query.
    live_until = NumberAttribute(null=True)
    status_reason = UnicodeAttribute(null=True)
    is_admin_created = BooleanAttribute(default=False)
    # Whether the user ever reported a bad number: orders look up the banned numbers only then. Accounts made
    # before the flag existed read None, which orders treat as "maybe" (they look).
    has_bad_numbers = BooleanAttribute(null=True, default_for_new=False)
    # Credentials created at or before these times are refused (sign out everywhere, lock, reset), even
    # ones a GSI query has not shown yet: the by_account index is only eventually consistent.
    sessions_valid_after = NumberAttribute(null=True)
    keys_valid_after = NumberAttribute(null=True)
    # When money first moved since reconciliation last found this account clean (None: nothing to check);
    # set by the posting's own transaction, removed by reconciliation on the version it checked.
    reconcile_due_at = NumberAttribute(null=True)
    reconcile_shard = UnicodeAttribute(null=True)
    unreconciled = UnreconciledAccounts()
    # Bumped by every reset link issued or used and every password change; a reset link carries the value it
    # was issued under, so only the newest unused link works.
    reset_generation = NumberAttribute(null=True)
    # Where the owner signed in from, newest first (a few each): a sign-in from elsewhere is emailed, and an
    # IP over its failed sign-in budget still lets in the accounts that are known there.
    sign_in_ips = ListAttribute[str](null=True)
    sign_in_devices = ListAttribute[str](null=True)
    # SHA-256 of the device tokens given to browsers that signed in (newest first): a device that proves an
    # earlier sign-in is throttled on its own, so a stranger behind the owner's IP cannot make the owner wait.
    trusted_devices = ListAttribute[str](null=True)
    # Two-factor sign-in (services/accounts/two_factor.py): the TOTP secret once confirmed (never returned or logged),
    # one waiting for its first code, the time step of the last code used (a code works once), and the SHA-256
    # of each unused recovery code.
    totp_secret = UnicodeAttribute(null=True)
    totp_pending_secret = UnicodeAttribute(null=True)
    totp_last_step = NumberAttribute(null=True)
    recovery_codes = UnicodeSetAttribute(null=True)
    # Consent withdrawn (12.3): the user's own words (tickets, refund reasons, labels) removed at this time, or
    # waiting for a legal hold to end (services/free_text.py).
    free_text_due = BooleanAttribute(null=True)
    free_text_removed_at = NumberAttribute(null=True)


def unreconciled(settled_before: float) -> list[tuple[str, float]]:
    """(account id, first unchecked change) of every account whose money moved before `settled_before` and was
    not checked since, oldest first. One query per shard of the sparse index: its cost follows the backlog."""
    due = [(str(a.account_id), float(a.reconcile_due_at)) for shard in (f"{n:x}" for n in range(16))
           for a in Account.unreconciled.query(shard, Account.reconcile_due_at < settled_before)]
    return sorted(due, key=lambda item: (item[1], item[0]))


def mark_reconciled(account_id: str, version: int) -> bool:
    """Take the account off reconciliation's list unless its money moved since `version` was checked."""
    return _if_unchanged(account_id, version, [Account.reconcile_due_at.remove(), Account.reconcile_shard.remove()])


def reconcile_again_after(account_id: str, version: int, due_at: float) -> bool:
    """Keep the account on the list from `due_at` (its first change still unsettled) unless its money moved since
    `version` was checked: runs before that do not read it again."""
    return _if_unchanged(account_id, version, [Account.reconcile_due_at.set(due_at)])


def _if_unchanged(account_id: str, version: int, actions: list[Action]) -> bool:
    try:
        Account(account_id).update(actions=actions,
                                   condition=(Account.version == version) & Account.reconcile_due_at.exists())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


class CredentialsByAccount(GlobalSecondaryIndex["Credential"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


@table("credentials")
class Credential(Model):
    """A session token or an API key, stored by the SHA-256 of its value only."""

    class Meta:
        table_name = "credentials"

    token_hash = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # "session" | "api_key"
    key_id = UnicodeAttribute()  # public id for listing / revoking without the secret
    label = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    last_used_at = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    ip = UnicodeAttribute(null=True)  # a session's: where it was signed in from
    device = UnicodeAttribute(null=True)  # a session's: the browser or client (User-Agent) that signed in
    scopes = UnicodeSetAttribute(null=True)  # an API key's (domain/scopes.py); none: an old key, "orders"
    by_account = CredentialsByAccount()


@table("tokens")
class OneTimeToken(Model):
    """Email-verification and password-reset tokens: single use, expiring, stored hashed."""

    class Meta:
        table_name = "tokens"

    token_hash = UnicodeAttribute(hash_key=True)
    purpose = UnicodeAttribute()  # "verify" | "reset" | "mfa" (a sign-in waiting for its second factor)
    account_id = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = TTLAttribute()
    generation = NumberAttribute(null=True)  # a reset token's Account.reset_generation when it was issued
    attempts = NumberAttribute(null=True)  # a sign-in challenge's wrong codes ("mfa": services/accounts/two_factor.py)


@table("login_throttle")
class LoginThrottle(Model):
    """Failed sign-ins of one (email, IP) pair or one IP in a sliding window, and until when further tries wait."""

    class Meta:
        table_name = "login_throttle"

    key = UnicodeAttribute(hash_key=True)  # "pair#<sha256 of the normalised email>#<address>" | "ip#<address>"
    failures = NumberAttribute(default=0)
    window_ends_at = NumberAttribute()  # the count restarts after this long without a failure
    blocked_until = NumberAttribute(default=0)
    expires_at = TTLAttribute()
