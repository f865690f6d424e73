"""The money repository in memory (chalicelib/store/money.py's `MoneyStore`), for unit tests that need no DynamoDB.

It keeps the rules the DynamoDB store keeps, so a service test on it means the same: a commit is all or nothing
under a lock; the account's condition, free ledger keys and unclaimed causes decide it; a refusal carries the
account as the condition saw it; `seal` raises the floor and writes balance_after as the running sum in key order.
The contract test (tests/integration/test_money_store_contract.py) runs the same checks on this and on DynamoDB
Local.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.ids import new_numeric_id
from chalicelib.store.base import JoinedWrite
from chalicelib.store.money import CommitRefused, Entry, Funds, checked_close


class FakeTransaction:
    """What a joined write is called with here: checks that must all hold, and changes made only if they do."""

    def __init__(self) -> None:
        self.checks: list[Callable[[], bool]] = []
        self.changes: list[Callable[[], None]] = []

    def join(self, check: Callable[[], bool], change: Callable[[], None]) -> None:
        self.checks.append(check)
        self.changes.append(change)


class InMemoryMoneyStore:
    def __init__(self) -> None:
        self.accounts: dict[str, Funds] = {}
        self.ledger: dict[tuple[str, int], Entry] = {}
        self.claims: dict[str, str] = {}
        self._lock = threading.RLock()

    # Arranging (what registration and account actions do in DynamoDB) -------------------------------------------
    def open_account(self, account_id: str, status: AccountStatus = AccountStatus.ACTIVE) -> None:
        self.accounts[account_id] = Funds(account_id=account_id, status=status, balance_cents=0, held_cents=0,
                                          version=0, ledger_seq=0)

    def set_status(self, account_id: str, status: AccountStatus) -> None:
        self.accounts[account_id] = dataclasses.replace(self.accounts[account_id], status=status)

    def claiming(self, key: str, value: str) -> JoinedWrite:
        """A joined write that claims `key` (an idempotency key, as an order's activation would)."""
        def claim(tx: Any) -> None:
            tx.join(lambda: key not in self.claims, lambda: self.claims.__setitem__(key, value))

        return claim

    # MoneyStore ------------------------------------------------------------------------------------------------
    def funds(self, account_id: str, *, consistent: bool = True) -> Funds | None:
        return self.accounts.get(account_id)

    def commit_unread(self, account_id: str, entries: Sequence[tuple[Entry, str]], *, spend: int | None,
                      require_active: bool, joined: Sequence[JoinedWrite] = ()) -> None:
        first, total = entries[0][0].seq, sum(e.amount_cents for e, _ in entries)
        credits = [e.seq for e, _ in entries if e.amount_cents > 0]

        def holds(f: Funds) -> bool:
            return (f.ledger_floor is not None and f.ledger_floor < first and f.spendable_cents is not None
                    and (f.credit_last is None or f.credit_last < first)
                    and (spend is None or f.spendable_cents >= spend)
                    and (not require_active or f.status is AccountStatus.ACTIVE))

        def after(f: Funds) -> Funds:
            assert f.spendable_cents is not None
            return dataclasses.replace(f, balance_cents=f.balance_cents + total,
                                       spendable_cents=f.spendable_cents + total,
                                       ledger_seq=f.ledger_seq + len(entries), version=f.version + 1,
                                       credit_last=credits[-1] if credits else f.credit_last)

        self._commit(account_id, holds, after, entries, joined)

    def commit_checked(self, read: Funds, entries: Sequence[tuple[Entry, str]], *, require_active: bool,
                       joined: Sequence[JoinedWrite] = ()) -> None:
        last, balance, count = checked_close(read, entries)

        def holds(f: Funds) -> bool:
            return f.version == read.version and (not require_active or f.status is AccountStatus.ACTIVE)

        def after(f: Funds) -> Funds:
            return dataclasses.replace(f, balance_cents=balance, ledger_seq=count, version=read.version + 1,
                                       spendable_cents=balance - read.held_cents, ledger_floor=last,
                                       credit_last=last, sealed_seq=last, sealed_count=count,
                                       sealed_balance_cents=balance)

        self._commit(read.account_id, holds, after, entries, joined)

    def commit_hold(self, read: Funds, held_cents: int, joined: Sequence[JoinedWrite] = ()) -> None:
        def after(f: Funds) -> Funds:
            return dataclasses.replace(f, held_cents=held_cents, version=read.version + 1,
                                       spendable_cents=read.balance_cents - held_cents)

        self._commit(read.account_id, lambda f: f.version == read.version, after, (), joined)

    def entries(self, account_id: str, *, after_seq: int = 0, up_to: int | None = None, limit: int = 100,
                newest_first: bool = True) -> list[Entry]:
        with self._lock:
            found = sorted((e for (aid, seq), e in self.ledger.items()
                            if aid == account_id and seq > after_seq and (not up_to or seq <= up_to)),
                           key=lambda e: e.seq, reverse=newest_first)
        return found[:limit]

    def entry(self, account_id: str, seq: int) -> Entry | None:
        return self.ledger.get((account_id, seq))

    def seal(self, account_id: str) -> int | None:
        with self._lock:
            f = self.accounts.get(account_id)
            if f is None or f.ledger_floor is None:
                return None
            if (f.sealed_count or 0) == f.ledger_seq:
                return f.sealed_seq or 0
            frontier = max(new_numeric_id(), f.ledger_floor)
            running, count = f.sealed_balance_cents or 0, f.sealed_count or 0
            for entry in self.entries(account_id, after_seq=f.sealed_seq or 0, up_to=frontier, limit=10**9,
                                      newest_first=False):
                running, count = running + entry.amount_cents, count + 1
                if entry.balance_after_cents is None:
                    self.ledger[(account_id, entry.seq)] = dataclasses.replace(entry, balance_after_cents=running)
            self.accounts[account_id] = dataclasses.replace(f, ledger_floor=frontier, sealed_seq=frontier,
                                                            sealed_count=count, sealed_balance_cents=running)
            return frontier

    def claimed(self, key: str) -> bool:
        return key in self.claims

    def _commit(self, account_id: str, holds: Callable[[Funds], bool], after: Callable[[Funds], Funds],
                entries: Sequence[tuple[Entry, str]], joined: Sequence[JoinedWrite]) -> None:
        with self._lock:
            tx = FakeTransaction()
            for write in joined:
                write(tx)  # type: ignore[arg-type]  # this store's transaction, not DynamoDB's
            f = self.accounts.get(account_id)
            account_holds = f is not None and holds(f)
            keys_free = all((e.account_id, e.seq) not in self.ledger for e, _ in entries)
            causes_free = all(key not in self.claims for _, key in entries)
            if not (account_holds and keys_free and causes_free and all(check() for check in tx.checks)):
                raise CommitRefused(seen=f if f is not None and not account_holds else None)
            assert f is not None
            self.accounts[account_id] = after(f)
            for entry, key in entries:
                self.ledger[(entry.account_id, entry.seq)] = entry
                self.claims[key] = f"{entry.account_id}:{entry.seq}"
            for change in tx.changes:
                change()
