"""The one way money moves: a balance change and its ledger entry in one DynamoDB transaction, exactly once per cause.

Each posting reads the account (or starts from the strongly consistent read its caller just made), then
commits a TransactWriteItems with
  1. the account update, conditioned on the `version` it read (compare-and-set: no lost update),
  2. the ledger entry at the next sequence number (so balance_after is exact and entries are gap-free),
  3. a claim on `ledger#<kind>#<cause_id>` that must not exist (a retried cause fails here: exactly once),
  4. any items the caller adds (e.g. the activation an order creates).
A lost race on the version re-reads and tries again; a taken claim raises AlreadyApplied.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.domain.errors import AlreadyApplied, Forbidden, InsufficientBalance, NotFound
from chalicelib.domain.ids import new_id
from chalicelib.store.accounts import Account, reconcile_shard
from chalicelib.store.base import connection
from chalicelib.store.ledger import Claim, LedgerEntry, claimed

ExtraItems = Callable[[TransactWrite], None]

_MAX_ATTEMPTS = 60


@dataclass(frozen=True)
class Posting:
    entry_id: str
    account_id: str
    seq: int
    amount_cents: int
    balance_after_cents: int
    kind: LedgerKind
    cause_id: str
    created_at: float


def cause_key(kind: LedgerKind, cause_id: str) -> str:
    return f"ledger#{kind.value}#{cause_id}"


class Wallet:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def post(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, *,
             memo: str | None = None, allow_negative: bool = False, require_active: bool = False,
             extra: ExtraItems | None = None, known: Account | None = None) -> Posting:
        """Apply a signed amount to the account with its ledger entry.

        A debit (negative amount) must leave `balance - held >= 0` unless allow_negative (disputes,
        forfeiture of a negative balance never happens). require_active refuses a debit on an
        account that is not active at commit time (orders). Raises InsufficientBalance,
        AlreadyApplied, NotFound. `known`: the account as the caller read it a moment ago, strongly consistent
        (an order's authentication): the first attempt starts from it instead of reading again; the version
        compare-and-set refuses it if anything changed since, and the retry reads afresh.
        """
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
            raise TypeError("amount_cents must be an int")
        for attempt in range(_MAX_ATTEMPTS):
            account = known if attempt == 0 and known is not None else self.read(account_id)
            refused = _refusal(account, amount_cents, allow_negative, require_active)
            if refused is not None and account is known:
                continue  # a refusal is decided on a read of our own, never on the caller's
            if refused is not None:
                raise refused
            new_balance = int(account.balance_cents) + amount_cents
            posting = self._posting(account, amount_cents, new_balance, kind, cause_id)
            try:
                self._commit(account, posting, memo, require_active, extra)
                return posting
            except TransactWriteError as exc:
                if claimed(cause_key(kind, cause_id)):
                    raise AlreadyApplied(f"{kind.value} for {cause_id} was already applied.") from None
                self._raise_unless_lost_race(exc, account, require_active)
                _backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover - 60 lost races in a row

    def change_hold(self, account_id: str, delta_cents: int, *, extra: ExtraItems | None = None) -> int:
        """Move money between spendable and held (refund requests); no ledger entry, balance unchanged."""
        for attempt in range(_MAX_ATTEMPTS):
            account = self.read(account_id)
            new_held = int(account.held_cents) + delta_cents
            if new_held < 0 or new_held > max(account.balance_cents, 0):
                raise InsufficientBalance("Not enough available balance to hold.")
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.update(account, condition=Account.version == account.version,
                              actions=[Account.held_cents.set(new_held), Account.version.set(account.version + 1)])
                    if extra:
                        extra(tx)
                return new_held
            except TransactWriteError as exc:
                self._raise_unless_lost_race(exc, account, require_active=False)
                _backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def entries(self, account_id: str, *, after_seq: int = 0, limit: int = 100, newest_first: bool = True
                ) -> list[LedgerEntry]:
        cond = LedgerEntry.seq > after_seq if after_seq else None
        return list(LedgerEntry.query(account_id, range_key_condition=cond, scan_index_forward=not newest_first,
                                      limit=limit))

    def read(self, account_id: str) -> Account:
        """The account, strongly consistent (what money decisions are made on); NotFound if there is none."""
        try:
            return Account.get(account_id, consistent_read=True)
        except Account.DoesNotExist:
            raise NotFound("Account not found.") from None

    def _posting(self, account: Account, amount: int, new_balance: int, kind: LedgerKind, cause_id: str) -> Posting:
        return Posting(entry_id=new_id("le"), account_id=account.account_id, seq=int(account.ledger_seq) + 1,
                       amount_cents=amount, balance_after_cents=new_balance, kind=kind, cause_id=cause_id,
                       created_at=self.clock.now())

    def _commit(self, account: Account, p: Posting, memo: str | None, require_active: bool,
                extra: ExtraItems | None) -> None:
        condition: Condition = Account.version == account.version
        if require_active:
            condition = condition & (Account.status == AccountStatus.ACTIVE.value)
        entry = LedgerEntry(p.account_id, p.seq, entry_id=p.entry_id, amount_cents=p.amount_cents,
                            balance_after_cents=p.balance_after_cents, kind=p.kind.value, cause_id=p.cause_id,
                            memo=memo, created_at=p.created_at)
        claim = Claim(cause_key(p.kind, p.cause_id), value=f"{p.account_id}:{p.seq}", created_at=p.created_at)
        with TransactWrite(connection=connection()) as tx:
            tx.update(account, actions=[Account.balance_cents.set(p.balance_after_cents),
                                        Account.ledger_seq.set(p.seq), Account.version.set(account.version + 1),
                                        *_due_for_reconcile(p)],
                      condition=condition)
            tx.save(entry, condition=LedgerEntry.seq.does_not_exist())
            tx.save(claim, condition=Claim.key.does_not_exist())
            if extra:
                extra(tx)

    def _raise_unless_lost_race(self, exc: TransactWriteError, read: Account, require_active: bool) -> None:
        """Retry only when the account moved under us; a refusal of the caller's own items is theirs to handle.

        Which item DynamoDB blames is not used: PynamoDB reorders a transaction's items (checks, deletes,
        puts, updates) and moto reports differently, so the account itself is asked whether it changed.
        """
        codes = {r.code for r in (exc.cancellation_reasons or []) if r}
        if "TransactionConflict" in codes:
            return
        now = self.read(read.account_id)
        if now.version != read.version:
            return
        if require_active and now.status != AccountStatus.ACTIVE.value:
            return  # the next attempt refuses it with a clear error
        raise exc


def _due_for_reconcile(p: Posting) -> list[Action]:
    """Put the account on reconciliation's list (kept as it is when already there: its first unchecked change)."""
    return [Account.reconcile_due_at.set(Account.reconcile_due_at | p.created_at),
            Account.reconcile_shard.set(Account.reconcile_shard | reconcile_shard(p.account_id))]


def _refusal(account: Account, amount_cents: int, allow_negative: bool, require_active: bool
             ) -> Forbidden | InsufficientBalance | None:
    """Why this account may not take `amount_cents` now; None when it may."""
    if require_active and account.status != AccountStatus.ACTIVE.value:
        return Forbidden("This account cannot spend money now.", code="ACCOUNT_NOT_ACTIVE")
    available = int(account.balance_cents) - int(account.held_cents)
    if amount_cents < 0 and not allow_negative and available + amount_cents < 0:
        return InsufficientBalance("Your balance is too low for this.",
                                   details={"balance_cents": available, "needed_cents": -amount_cents})
    return None


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.2, 0.005 * (2 ** min(attempt, 6)))))
