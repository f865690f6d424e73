"""The money repository: balances, the ledger and exactly-once claims as plain values; the wallet's only way to them.
(Over 250 lines on purpose: every DynamoDB write that moves money, and the seal that completes it, in one place.)

`Wallet` (services/money/wallet.py) decides what may move, draws keys and retries; this module reads and commits,
and is where the money's DynamoDB work lives. `MoneyStore` is the interface, `DynamoMoneyStore` its DynamoDB one,
tests/fakes/money_store.py the same in memory; one contract test (tests/integration/test_money_store_contract.py)
runs the same checks against both.

A commit is one transaction: the account's update under a condition, each ledger entry (its key must be free),
the claim on each entry's cause (must not exist: exactly once) and the `JoinedWrite`s a caller adds. Two ways:
- `commit_unread`: nothing read first; the condition decides (the entries' keys above `ledger_floor` and, for a
  debit, above `credit_last`; `spendable_cents >= spend` when a debit is guarded; `status = active` when asked),
  and balance_after is left for `seal`;
- `commit_checked`: under the `version` the caller read (compare-and-set), balance_after known, setting what the
  read-free path needs (an account from before read-free postings takes it once).
A refused commit raises `CommitRefused`, carrying the account as the condition saw it when the backend says so
(ReturnValuesOnConditionCheckFailure).
"""
from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.ids import new_numeric_id
from chalicelib.domain.webhook_events import EventType, stored_event_types
from chalicelib.store import transaction
from chalicelib.store.accounts import Account, reconcile_shard
from chalicelib.store.base import JoinedWrite, WriteRefused, connection
from chalicelib.store.ledger import Claim, LedgerEntry, claimed
from chalicelib.store.values import int_or_none

_FLOOR_ATTEMPTS = 5


@dataclass(frozen=True)
class Funds:
    """The money side of an account, as read or as a refused condition saw it."""

    account_id: str
    status: AccountStatus
    balance_cents: int
    held_cents: int  # pending refund requests: not spendable
    version: int  # bumped by every money change: the compare-and-set guard
    ledger_seq: int  # how many entries the ledger has
    # Kept since read-free postings (None on an account none touched): balance - held; the key at or below which
    # nothing commits any more; the newest credit's key; how far balance_after is written (key, count, balance).
    spendable_cents: int | None = None
    ledger_floor: int | None = None
    credit_last: int | None = None
    sealed_seq: int | None = None
    sealed_count: int | None = None
    sealed_balance_cents: int | None = None
    balance_events: bool = False  # whether its webhook takes balance.changed

    @property
    def available_cents(self) -> int:
        """What may be spent: balance minus what pending refund requests hold."""
        return self.spendable_cents if self.spendable_cents is not None else self.balance_cents - self.held_cents

    @property
    def read_free(self) -> bool:
        """Whether postings may skip the read (the account carries what their condition compares)."""
        return self.ledger_floor is not None and self.spendable_cents is not None

    @property
    def lowest_key_allowed(self) -> int:
        """The lowest key a posting may take: above the floor and the newest credit."""
        return max(self.ledger_floor or 0, self.credit_last or 0) + 1


@dataclass(frozen=True)
class Entry:
    """One ledger entry: the change of one balance, immutable once written (balance_after is filled in once)."""

    account_id: str
    seq: int
    entry_id: str
    amount_cents: int
    balance_after_cents: int | None  # None until sealed: a read-free posting cannot know it
    kind: LedgerKind
    cause_id: str
    created_at: float
    memo: str | None = None


class CommitRefused(WriteRefused):
    """The money's transaction did not commit. `conflict`: another transaction held an item (try again). `seen`:
    the account as its condition saw it, when that condition failed and the backend said so."""

    def __init__(self, *, conflict: bool = False, seen: Funds | None = None) -> None:
        super().__init__("the money's transaction was refused")
        self.conflict = conflict
        self.seen = seen


class MoneyStore(Protocol):
    def funds(self, account_id: str, *, consistent: bool = True) -> Funds | None:
        """The account's money; eventually consistent when not `consistent` (only to decide whether to tell)."""

    def commit_unread(self, account_id: str, entries: Sequence[tuple[Entry, str]], *, spend: int | None,
                      require_active: bool, joined: Sequence[JoinedWrite] = ()) -> None:
        """Entries (each with its claim key) at rising keys, unread; `spend`: the debit the spendable must cover."""

    def commit_checked(self, read: Funds, entries: Sequence[tuple[Entry, str]], *, require_active: bool,
                       joined: Sequence[JoinedWrite] = ()) -> None:
        """Entries with balance_after known, under the version `read` has."""

    def commit_hold(self, read: Funds, held_cents: int, joined: Sequence[JoinedWrite] = ()) -> None:
        """Set what pending refund requests hold, under the version `read` has."""

    def entries(self, account_id: str, *, after_seq: int = 0, up_to: int | None = None, limit: int = 100,
                newest_first: bool = True) -> list[Entry]:
        """The ledger, keys above `after_seq` and up to `up_to` when given."""

    def entry(self, account_id: str, seq: int) -> Entry | None:
        """One entry, strongly consistent."""

    def seal(self, account_id: str) -> int | None:
        """Write balance_after where it is missing; up to which key the ledger is final (None: every entry is)."""

    def claimed(self, key: str) -> bool:
        """Whether a claim was written (strongly consistent)."""


class DynamoMoneyStore:
    """The money in DynamoDB: the accounts, ledger and claims tables, through the process's one connection."""

    def funds(self, account_id: str, *, consistent: bool = True) -> Funds | None:
        try:
            return funds_of(Account.get(account_id, consistent_read=consistent))
        except Account.DoesNotExist:
            return None

    def commit_unread(self, account_id: str, entries: Sequence[tuple[Entry, str]], *, spend: int | None,
                      require_active: bool, joined: Sequence[JoinedWrite] = ()) -> None:
        first, total = entries[0][0].seq, sum(e.amount_cents for e, _ in entries)
        condition: Condition = ((Account.ledger_floor < first) & Account.spendable_cents.exists()
                                & ((Account.credit_last < first) | Account.credit_last.does_not_exist()))
        if spend is not None:
            condition &= Account.spendable_cents >= spend
        if require_active:
            condition &= Account.status == AccountStatus.ACTIVE.value
        actions: list[Action] = [Account.balance_cents.add(total), Account.spendable_cents.add(total),
                                 Account.ledger_seq.add(len(entries)), Account.version.add(1)]
        credits = [e.seq for e, _ in entries if e.amount_cents > 0]
        if credits:
            actions.append(Account.credit_last.set(credits[-1]))
        self._transact(Account(account_id), entries, condition, actions, joined)

    def commit_checked(self, read: Funds, entries: Sequence[tuple[Entry, str]], *, require_active: bool,
                       joined: Sequence[JoinedWrite] = ()) -> None:
        last, balance, count = checked_close(read, entries)
        condition: Condition = Account.version == read.version
        if require_active:
            condition &= Account.status == AccountStatus.ACTIVE.value
        self._transact(Account(read.account_id), entries, condition, [
            Account.balance_cents.set(balance), Account.ledger_seq.set(count), Account.version.set(read.version + 1),
            Account.spendable_cents.set(balance - read.held_cents), Account.ledger_floor.set(last),
            Account.credit_last.set(last), Account.sealed_seq.set(last), Account.sealed_count.set(count),
            Account.sealed_balance_cents.set(balance)], joined)

    def commit_hold(self, read: Funds, held_cents: int, joined: Sequence[JoinedWrite] = ()) -> None:
        self._transact(Account(read.account_id), (), Account.version == read.version, [
            Account.held_cents.set(held_cents), Account.version.set(read.version + 1),
            Account.spendable_cents.set(read.balance_cents - held_cents)], joined)

    def entries(self, account_id: str, *, after_seq: int = 0, up_to: int | None = None, limit: int = 100,
                newest_first: bool = True) -> list[Entry]:
        return ledger_entries(account_id, after_seq=after_seq, up_to=up_to, limit=limit, newest_first=newest_first)

    def entry(self, account_id: str, seq: int) -> Entry | None:
        return ledger_entry(account_id, seq)

    def seal(self, account_id: str) -> int | None:
        return seal_ledger(account_id)

    def claimed(self, key: str) -> bool:
        return claimed(key)

    def _transact(self, account: Account, entries: Sequence[tuple[Entry, str]], condition: Condition,
                  actions: list[Action], joined: Sequence[JoinedWrite]) -> None:
        """One transaction: the account update, then each entry and its claim (none for a hold), then the joined
        writes."""
        due = _due_for_reconcile(entries[0][0]) if entries else []
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.update(account, actions=[*actions, *due], condition=condition, return_values=ALL_OLD)
                for entry, claim_key in entries:
                    tx.save(LedgerEntry(entry.account_id, entry.seq, entry_id=entry.entry_id,
                                        amount_cents=entry.amount_cents,
                                        balance_after_cents=entry.balance_after_cents, kind=entry.kind.value,
                                        cause_id=entry.cause_id, memo=entry.memo, created_at=entry.created_at),
                            condition=LedgerEntry.seq.does_not_exist())
                    tx.save(Claim(claim_key, value=f"{entry.account_id}:{entry.seq}", created_at=entry.created_at),
                            condition=Claim.key.does_not_exist())
                for write in joined:
                    write(tx)
        except TransactWriteError as exc:
            raise _refused(exc) from exc


def seal_ledger(account_id: str) -> int | None:
    """Write balance_after on the entries read-free postings left without it, and say up to which key the
    ledger is sealed: a reader that shows balance_after reads up to there (newer entries are not final yet).

    First the floor goes up to now, so no entry at or below it can commit any more; then each entry above the
    last sealed one gets the running sum in key order. Any reader may run it, at the same time as others (each
    write is conditional, and all compute the same sums). None: every entry carries its balance_after as
    written (an account no read-free posting touched), or there is no account.
    """
    try:
        account = Account.get(account_id, consistent_read=True)
    except Account.DoesNotExist:
        return None
    if account.ledger_floor is None:
        return None
    sealed = int(account.sealed_seq or 0)
    if int(account.sealed_count or 0) == int(account.ledger_seq):
        return sealed  # nothing committed since the last seal
    frontier = max(new_numeric_id(), int(account.ledger_floor))
    if not _raise_floor(account_id, frontier):
        return sealed
    running, count = int(account.sealed_balance_cents or 0), int(account.sealed_count or 0)
    for entry in LedgerEntry.query(account_id, LedgerEntry.seq.between(sealed + 1, frontier), consistent_read=True):
        running, count = running + int(entry.amount_cents), count + 1
        if entry.balance_after_cents is None:
            _unless_refused(entry, [LedgerEntry.balance_after_cents.set(running)],
                            LedgerEntry.balance_after_cents.does_not_exist())
    _unless_refused(Account(account_id), [Account.sealed_seq.set(frontier), Account.sealed_count.set(count),
                                          Account.sealed_balance_cents.set(running)],
                    (Account.sealed_seq < frontier) | Account.sealed_seq.does_not_exist())
    return frontier


def checked_close(read: Funds, entries: Sequence[tuple[Entry, str]]) -> tuple[int, int, int]:
    """Where a checked commit leaves the account: its newest key (floor, newest credit and sealed position at once),
    the balance after it (known: every entry of a checked commit carries it) and the number of entries."""
    last = entries[-1][0]
    if last.balance_after_cents is None:
        raise ValueError("a checked commit knows each entry's balance after")
    return last.seq, last.balance_after_cents, read.ledger_seq + len(entries)


def ledger_entries(account_id: str, *, after_seq: int = 0, up_to: int | None = None, limit: int = 100,
                   newest_first: bool = True) -> list[Entry]:
    """The ledger, keys above `after_seq` and up to `up_to` when given (eventually consistent)."""
    cond = LedgerEntry.seq.between(after_seq + 1, up_to) if up_to else LedgerEntry.seq > after_seq
    return [entry_of(row) for row in LedgerEntry.query(account_id, range_key_condition=cond,
                                                       scan_index_forward=not newest_first, limit=limit)]


def ledger_entry(account_id: str, seq: int) -> Entry | None:
    """One ledger entry, strongly consistent."""
    try:
        return entry_of(LedgerEntry.get(account_id, seq, consistent_read=True))
    except LedgerEntry.DoesNotExist:
        return None


def funds_of(account: Any) -> Funds:
    """The money side of an account an order's authentication read a moment ago: the `accounts` row, or any value
    with the same field names (chalicelib.domain.accounts.Account)."""
    return Funds(account_id=account.account_id, status=AccountStatus(account.status),
                 balance_cents=int(account.balance_cents), held_cents=int(account.held_cents),
                 version=int(account.version), ledger_seq=int(account.ledger_seq),
                 spendable_cents=int_or_none(account.spendable_cents),
                 ledger_floor=int_or_none(account.ledger_floor), credit_last=int_or_none(account.credit_last),
                 sealed_seq=int_or_none(account.sealed_seq), sealed_count=int_or_none(account.sealed_count),
                 sealed_balance_cents=int_or_none(account.sealed_balance_cents),
                 balance_events=bool(account.webhook_url)
                 and EventType.BALANCE_CHANGED in stored_event_types(account.webhook_events))


def entry_of(row: LedgerEntry) -> Entry:
    return Entry(account_id=row.account_id, seq=int(row.seq), entry_id=row.entry_id,
                 amount_cents=int(row.amount_cents), balance_after_cents=int_or_none(row.balance_after_cents),
                 kind=LedgerKind(row.kind), cause_id=row.cause_id, created_at=float(row.created_at), memo=row.memo)


def _refused(exc: TransactWriteError) -> CommitRefused:
    reasons = [r for r in transaction.cancellation_reasons(exc) if r]  # raises what is no refusal
    seen = None
    for reason in reasons:
        # The account's ALL_OLD image: the only item of such a transaction carrying an email.
        if reason.code == transaction.CONDITION_FAILED and reason.raw_item and "email" in reason.raw_item:
            seen = funds_of(Account.from_raw_data(reason.raw_item))
    return CommitRefused(conflict=any(r.code in transaction.RETRYABLE for r in reasons), seen=seen)


def _raise_floor(account_id: str, frontier: int) -> bool:
    """Refuse every posting keyed at or below `frontier` from now on; False if the account kept being written."""
    for attempt in range(_FLOOR_ATTEMPTS):
        try:
            Account(account_id).update(actions=[Account.ledger_floor.set(frontier)],
                                       condition=Account.ledger_floor < frontier)
            return True
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return True  # another reader raised it higher: what is below is final all the same
            if exc.cause_response_code != "TransactionConflictException":
                raise
            backoff(attempt)
    return False


def _unless_refused(item: LedgerEntry | Account, actions: list[Action], condition: Condition) -> None:
    """A seal's write, left to whoever got there first (its condition) or to the next reader (a conflict)."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code not in ("ConditionalCheckFailedException", "TransactionConflictException"):
            raise


def _due_for_reconcile(entry: Entry) -> list[Action]:
    """Put the account on reconciliation's list (kept as it is when already there: its first unchecked change)."""
    return [Account.reconcile_due_at.set(Account.reconcile_due_at | entry.created_at),
            Account.reconcile_shard.set(Account.reconcile_shard | reconcile_shard(entry.account_id))]


def backoff(attempt: int) -> None:
    """A short random wait before trying again, growing with the attempts (capped at 0.2 s)."""
    time.sleep(random.uniform(0, min(0.2, 0.005 * (2 ** min(attempt, 6)))))
