"""Reconciliation: do the books balance? Every check reads, none writes; the operator fixes what it finds.

This module reads the books (one consistent picture) and runs the checks, which services/money/reconcile_checks.py
lists: the ledger, top-ups against Stripe, activation charges against refunds and issued numbers.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation import Activation
from chalicelib.domain.clock import Clock
from chalicelib.domain.payments import TopUp
from chalicelib.domain.rental import Rental
from chalicelib.observability import logger
from chalicelib.providers.stripe_gateway import IntentSummary, StripeGateway
from chalicelib.services.money.reconcile_checks import (
    Discrepancy,
    check_activation_charges,
    check_ledgers,
    check_one_ledger,
    check_top_ups,
)
from chalicelib.services.rentals.audit import check_rental_charges
from chalicelib.store import books as store
from chalicelib.store.money import DynamoMoneyStore, Entry, Funds

DEFAULT_GRACE_SECONDS = 600  # a webhook or a pending order younger than this may still be in flight
SCAN_SEGMENTS = 4
READ_THREADS = 8
K = TypeVar("K")
M = TypeVar("M")
_SNAPSHOT_ATTEMPTS = 5
_RENTAL_KINDS = (LedgerKind.RENTAL_CHARGE.value, LedgerKind.RENTAL_REFUND.value)


@dataclass
class ReconcileReport:
    checked: dict[str, int] = field(default_factory=dict)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    mode: str = "full"  # full | accounts | incremental
    complete: bool = True  # False: an incremental run stopped at its deadline, the next one goes on
    backlog: int = 0  # accounts an incremental run left for the next one

    @property
    def clean(self) -> bool:
        return not self.discrepancies

    def add(self, other: ReconcileReport) -> None:
        """Fold another part of the same run in: counts add up, a discrepancy seen twice is reported once."""
        for name, count in other.checked.items():
            self.checked[name] = self.checked.get(name, 0) + max(count, 0)
        self.discrepancies += [d for d in other.discrepancies if d not in self.discrepancies]

    def to_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "mode": self.mode, "complete": self.complete, "backlog": self.backlog,
                "checked": self.checked, "discrepancy_count": len(self.discrepancies),
                "discrepancies": [d.to_json() for d in self.discrepancies]}


class PaymentIntentSource(Protocol):
    def payment_intents(self) -> Iterable[IntentSummary]:
        """Every PaymentIntent the card processor knows of (or of a recent period)."""


# Reads the PaymentIntents to compare once the ledger was read (it is given the ledgers it may ask about).
IntentsAfterLedger = Callable[[dict[str, list[Entry]]], list[IntentSummary]]


@dataclass
class Books:
    """One consistent read of what the checks compare; `scope` None means every account."""

    accounts: dict[str, Funds]
    ledgers: dict[str, list[Entry]]
    top_ups: list[TopUp]
    activations: dict[int, Activation]
    intents: list[IntentSummary] | None
    rentals: dict[int, Rental] = field(default_factory=dict)


class Reconciler:
    def __init__(self, intents: PaymentIntentSource | None, clock: Clock,
                 grace_seconds: int = DEFAULT_GRACE_SECONDS) -> None:
        self.intents = intents
        self.clock = clock
        self.grace_seconds = grace_seconds

    def run(self, account_ids: Sequence[str] | None = None) -> ReconcileReport:
        """Check every account, or only `account_ids` (and the payments and activations of those)."""
        scope = set(account_ids) if account_ids else None
        source = self.intents
        listed: IntentsAfterLedger | None = None
        if source is not None:
            def listed(_: dict[str, list[Entry]]) -> list[IntentSummary]:
                return [i for i in source.payment_intents() if scope is None or i.account_id in scope]
        report = self.check(self.read(scope, listed))
        report.mode = "full" if scope is None else "accounts"
        return report

    def settled_before(self) -> float:
        """What happened before this is settled: webhooks and refunds in flight have landed."""
        return self.clock.now() - self.grace_seconds

    def check(self, books: Books) -> ReconcileReport:
        """Every check on what was read; a ledger suspect is confirmed on a consistent snapshot first."""
        settled_before = self.settled_before()
        report = ReconcileReport(checked={
            "accounts": len(books.accounts), "ledger_entries": sum(len(v) for v in books.ledgers.values()),
            "top_ups": len(books.top_ups), "activations": len(books.activations),
            "payment_intents": len(books.intents) if books.intents is not None else -1,
        })
        report.discrepancies += self._confirmed(check_ledgers(books.accounts, books.ledgers))
        report.discrepancies += check_top_ups(books.ledgers, books.top_ups, books.intents, settled_before)
        report.discrepancies += check_activation_charges(books.ledgers, books.activations, settled_before)
        report.discrepancies += check_rental_charges((e for v in books.ledgers.values() for e in v), books.rentals,
                                                     settled_before)
        return report

    def read(self, scope: set[str] | None, intents: IntentsAfterLedger | None) -> Books:
        """The ledger first: whatever is read after it (top-ups, activations, payments) is at least as new.

        Tables are scanned in parallel segments and accounts read in parallel: the calls wait on the network.
        """
        if scope is None:
            entries = _scan(store.ledger_segment)
            accounts = {a.account_id: a for a in _scan(store.funds_segment)}
        else:
            ids = sorted(scope)
            entries = _each(ids, store.ledger_of)
            accounts = {a.account_id: a for a in store.funds_of_accounts(ids)}
        ledgers = _by_account(entries)
        if scope is None:
            top_ups = _scan(store.topups_segment)
            activations = {a.activation_id: a for a in _scan(store.activations_segment)}
            rentals = {r.rental_id: r for r in _scan(store.rentals_segment)}
        else:
            top_ups = _each(ids, store.topups_of)
            activations = {a.activation_id: a for a in _each(ids, store.activations_of)}
            renters = sorted(a for a, kept in ledgers.items() if any(e.kind in _RENTAL_KINDS for e in kept))
            rentals = {r.rental_id: r for r in _each(renters, store.rentals_of)}  # none: no query
        return Books(accounts, ledgers, top_ups, activations, intents(ledgers) if intents is not None else None,
                     rentals)

    def _confirmed(self, suspects: list[Discrepancy]) -> list[Discrepancy]:
        """Re-check each suspect account on a consistent snapshot: a scan can catch a posting half-read."""
        confirmed: list[Discrepancy] = []
        for account_id in sorted({d.account_id for d in suspects if d.account_id}):
            snapshot = _consistent_ledger(account_id)
            if snapshot is None:
                # Money kept moving on it: nothing is confirmed. Its postings keep it on the incremental run's
                # list (a take-off needs the version read), so a later run checks it once it is still.
                logger.warning("account kept moving while reconciled; not confirmed", extra={"account_id": account_id})
            elif snapshot[0] is None:
                confirmed += [d for d in suspects if d.account_id == account_id]
            else:
                confirmed += check_one_ledger(snapshot[0], snapshot[1])
        return confirmed


def _consistent_ledger(account_id: str) -> tuple[Funds | None, list[Entry]] | None:
    """The account and its entries with no posting in between (its version did not move while reading); the
    account is None when there is none; None when every attempt saw a posting commit.

    A still snapshot that does not add up is read again a few times before it is believed: a reader may see a
    transaction's items land one by one (DynamoDB Local does), a real discrepancy stays.
    """
    money = DynamoMoneyStore()
    for attempt in range(_SNAPSHOT_ATTEMPTS):
        first = money.funds(account_id)
        if first is None:
            return None, []
        entries = store.ledger_of(account_id)
        again = money.funds(account_id)
        if again is None:  # pragma: no cover - an account is never deleted
            return None, []
        still = again.version == first.version
        if still and (attempt == _SNAPSHOT_ATTEMPTS - 1 or not check_one_ledger(again, entries)):
            return again, entries
        time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    return None


def _scan(segment: Callable[[int, int], list[M]]) -> list[M]:
    """Every item of a table, read as SCAN_SEGMENTS parallel segments."""
    return _each(range(SCAN_SEGMENTS), lambda n: segment(n, SCAN_SEGMENTS))


def _each(keys: Iterable[K], read: Callable[[K], Iterable[M]]) -> list[M]:
    """What `read` gives for each key, read by a few threads at once, in the order of the keys."""
    keys = list(keys)
    if len(keys) <= 1:
        return [item for key in keys for item in read(key)]
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(keys))) as pool:
        return [item for items in pool.map(lambda key: list(read(key)), keys) for item in items]


def _by_account(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    ledgers: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        ledgers[entry.account_id].append(entry)
    for account_entries in ledgers.values():
        account_entries.sort(key=lambda e: e.seq)
    return dict(ledgers)


class StripePaymentIntents:
    """PaymentIntents as the Stripe gateway lists them, for reconciliation: the last `lookback_seconds` of them
    (on real Stripe), what succeeded in a period (by Stripe's events, which list by when they happened), or one."""

    def __init__(self, gateway: StripeGateway, clock: Clock, lookback_seconds: int = 90 * 24 * 3600) -> None:
        self._gateway = gateway
        self._clock = clock
        self._lookback_seconds = lookback_seconds

    def payment_intents(self) -> Iterable[IntentSummary]:
        return self._gateway.payment_intents(created_since=int(self._clock.now()) - self._lookback_seconds)

    def succeeded_between(self, since: float, until: float) -> Iterable[IntentSummary]:
        return self._gateway.payments_succeeded_between(since, until)

    def payment_intent(self, intent_id: str) -> IntentSummary | None:
        return self._gateway.payment_intent_summary(intent_id)
