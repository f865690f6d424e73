"""Incremental reconciliation: each run checks only what changed since the last one, within the time it has.

What changed is found two ways, neither trusting a timestamp to say what committed when:
- Accounts whose money moved: every posting puts its account on the sparse `unreconciled` index in the
  posting's own transaction (store/accounts.py). A run checks those whose first change is settled (older
  than the grace period) and takes a clean one off on the version it checked, so a posting that commits
  during the run, whatever its time, keeps the account on the list for the next run.
- Payments Stripe says succeeded since the last run: `payment_intent.succeeded` events, listed by when they
  happened, in slices of an hour with an overlap for Stripe's listing lag; the mark moves past a slice only
  once every account it names was checked. A payment found not credited is carried to the next runs until it is.
The checks are `Reconciler.check` on the accounts concerned: exactly those of a full run, for those accounts.
A run that reaches its deadline keeps what it did and says what is left; the next run goes on from there. The
checkpoint is one runtime setting written by compare-and-set, so a slower run can never move it back.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.accounts import LedgerKind
from chalicelib.observability import logger
from chalicelib.services.money.reconcile import READ_THREADS, Books, IntentSummary, Reconciler, ReconcileReport
from chalicelib.store.accounts import mark_reconciled, reconcile_again_after, unreconciled
from chalicelib.store.money import Entry
from chalicelib.store.runtime import read_setting, replace_setting

CHECKPOINT_KEY = "reconcile_checkpoint"
STRIPE_OVERLAP_SECONDS = 600  # an event Stripe lists late is still seen by the next run
STRIPE_SLICE_SECONDS = 3600
FIRST_WINDOW_SECONDS = 24 * 3600  # the first run looks back a day; `reconcile --full` covers what is older
STRIPE_EVENTS_KEPT_SECONDS = 29 * 24 * 3600  # Stripe lists the events of the last 30 days
ACCOUNTS_PER_BATCH = 50
MAX_CARRIED_INTENTS = 200
RESERVE_SECONDS = 5.0  # left to save the checkpoint and flush metrics
LOCAL_BUDGET_SECONDS = 25.0  # no Lambda context (local scheduler, admin command): the function's 30 s, less


class Deadline(Protocol):
    def expired(self) -> bool:
        """True once the run must stop starting new work."""


class TimeBudget:
    """What the invocation has left (Lambda's own count, or a fixed budget), less a reserve to save progress."""

    def __init__(self, remaining_seconds: Callable[[], float], reserve_seconds: float = RESERVE_SECONDS) -> None:
        self._remaining_seconds = remaining_seconds
        self._reserve_seconds = reserve_seconds

    @classmethod
    def of_lambda(cls, context: Any, budget_seconds: float = LOCAL_BUDGET_SECONDS) -> TimeBudget:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            return cls(lambda: float(remaining_ms()) / 1000)
        return cls.fixed(budget_seconds)

    @classmethod
    def fixed(cls, budget_seconds: float) -> TimeBudget:
        started = time.monotonic()
        return cls(lambda: budget_seconds - (time.monotonic() - started))

    def expired(self) -> bool:
        return self._remaining_seconds() <= self._reserve_seconds


class IntentFeed(Protocol):
    def succeeded_between(self, since: float, until: float) -> Iterable[IntentSummary]:
        """PaymentIntents that succeeded in [since, until), `created` being when they succeeded."""

    def payment_intent(self, intent_id: str) -> IntentSummary | None:
        """One PaymentIntent as it is now, or None if the processor has none by that id."""


@dataclass
class Checkpoint:
    stripe_since: float  # Stripe events before this were checked
    carried_intents: list[str]  # payments found not credited: looked at again by every run until they are
    stored: str | None = None  # the JSON it was read from: the compare-and-set guard

    @classmethod
    def load(cls, now: float) -> Checkpoint:
        stored = read_setting(CHECKPOINT_KEY)
        if stored is None:
            return cls(now - FIRST_WINDOW_SECONDS, [], None)
        data = json.loads(stored)
        return cls(float(data["stripe_since"]), [str(i) for i in data.get("carried_intents", [])], stored)

    def save(self, now: float) -> bool:
        value = json.dumps({"stripe_since": self.stripe_since, "carried_intents": self.carried_intents,
                            "saved_at": now}, sort_keys=True)
        return replace_setting(CHECKPOINT_KEY, value, self.stored, now)


@dataclass
class _Run:
    settled_before: float
    due: dict[str, float]  # account id → its first unchecked change
    deadline: Deadline
    report: ReconcileReport = field(default_factory=lambda: ReconcileReport(mode="incremental"))
    checked: set[str] = field(default_factory=set)  # accounts
    examined: set[str] = field(default_factory=set)  # payments


class IncrementalReconciler:
    def __init__(self, reconciler: Reconciler, feed: IntentFeed | None, *,
                 accounts_per_batch: int = ACCOUNTS_PER_BATCH,
                 stripe_overlap_seconds: float = STRIPE_OVERLAP_SECONDS) -> None:
        self.reconciler = reconciler
        self.feed = feed
        self.accounts_per_batch = accounts_per_batch
        self.stripe_overlap_seconds = stripe_overlap_seconds

    def run(self, deadline: Deadline) -> ReconcileReport:
        """Check what changed since the last run, oldest first, until done or the deadline; save the progress."""
        clock = self.reconciler.clock
        checkpoint = Checkpoint.load(clock.now())
        settled_before = self.reconciler.settled_before()
        run = _Run(settled_before, dict(unreconciled(settled_before)), deadline)
        payments_done = self.feed is None or self._payments(checkpoint, run)
        left = self._accounts(run)
        run.report.backlog = left
        run.report.complete = payments_done and left == 0
        run.report.checked["stripe_checked_until"] = int(checkpoint.stripe_since)
        if not checkpoint.save(clock.now()):
            logger.warning("another reconcile run saved its checkpoint first; this run's Stripe mark is dropped")
        return run.report

    def _payments(self, checkpoint: Checkpoint, run: _Run) -> bool:
        """Carried payments, then each slice of succeeded payments; False when the deadline stopped it."""
        assert self.feed is not None
        feed = self.feed
        oldest = self.reconciler.clock.now() - STRIPE_EVENTS_KEPT_SECONDS
        if checkpoint.stripe_since < oldest:
            logger.warning("reconcile last ran before the oldest Stripe event; run `reconcile --full` for the gap",
                           extra={"stripe_since": checkpoint.stripe_since})
            checkpoint.stripe_since = oldest
        carried = [i for i in (feed.payment_intent(x) for x in checkpoint.carried_intents) if i is not None]
        unresolved = self._check_intents(carried, checkpoint.stripe_since, run)
        if unresolved is None:
            return False
        checkpoint.carried_intents = unresolved
        while checkpoint.stripe_since < run.settled_before:
            until = min(run.settled_before, checkpoint.stripe_since + STRIPE_SLICE_SECONDS)
            found = feed.succeeded_between(checkpoint.stripe_since - self.stripe_overlap_seconds, until)
            unresolved = self._check_intents(list(found), checkpoint.stripe_since, run)
            if unresolved is None:
                return False
            checkpoint.carried_intents = _first_unique(checkpoint.carried_intents + unresolved, MAX_CARRIED_INTENTS)
            checkpoint.stripe_since = until
        return True

    def _check_intents(self, intents: list[IntentSummary], since: float, run: _Run) -> list[str] | None:
        """Check the accounts these payments belong to; the payments still not credited, or None at the deadline."""
        intents = [i for i in intents if i.id not in run.examined]
        run.examined |= {i.id for i in intents}
        owners = sorted({i.account_id for i in intents if i.account_id})
        unresolved: list[str] = []
        for batch in _chunks(owners, self.accounts_per_batch):
            if run.deadline.expired():
                return None
            part = self._check_batch(batch, intents, since, run)
            unresolved += [d.ref for d in part.discrepancies if d.check == "payment_not_credited"]
        return unresolved

    def _accounts(self, run: _Run) -> int:
        """Check the accounts whose money moved, oldest change first; the number left for the next run."""
        todo = [account_id for account_id in run.due if account_id not in run.checked]
        done = 0
        for batch in _chunks(todo, self.accounts_per_batch):
            if run.deadline.expired():
                break
            self._check_batch(batch, [], 0.0, run)
            done += len(batch)
        return len(todo) - done

    def _check_batch(self, batch: Sequence[str], intents: list[IntentSummary], since: float,
                     run: _Run) -> ReconcileReport:
        """The full checks on these accounts; each clean one whose changes are all settled leaves the list."""
        scope = set(batch)
        known = {i.id: i for i in intents}

        def payments(ledgers: dict[str, list[Entry]]) -> list[IntentSummary]:
            listed = [i for i in intents if i.account_id in scope]
            return listed + self._new_credits(ledgers, known, since, run.due)

        books = self.reconciler.read(scope, payments)
        part = self.reconciler.check(books)
        run.report.add(part)
        run.checked |= scope
        flagged = {d.account_id for d in part.discrepancies}
        clean = [account_id for account_id in batch
                 if account_id in run.due and account_id not in flagged and account_id in books.accounts]
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            list(pool.map(lambda account_id: self._checked(account_id, books, run), clean))
        return part

    @staticmethod
    def _checked(account_id: str, books: Books, run: _Run) -> None:
        """Off the list when every change was settled; else back on it from its first unsettled change (whose
        refund or webhook may still come), so no run reads the account again before that one settles."""
        version = books.accounts[account_id].version
        unsettled = [e.created_at for e in books.ledgers.get(account_id, []) if e.created_at >= run.settled_before]
        if not unsettled:
            mark_reconciled(account_id, version)
        elif min(unsettled) > run.due[account_id]:
            reconcile_again_after(account_id, version, min(unsettled))

    def _new_credits(self, ledgers: dict[str, list[Entry]], known: dict[str, IntentSummary], since: float,
                     due: dict[str, float]) -> list[IntentSummary]:
        """The payments behind top-up credits posted since the account was last checked that the listing did not
        show: asked one by one, so a credit for a payment Stripe shows as not succeeded is found as in a full run."""
        if self.feed is None:
            return []
        found: list[IntentSummary] = []
        for account_id, entries in ledgers.items():
            new_since = due.get(account_id, since)
            for entry in entries:
                if entry.kind is LedgerKind.TOP_UP and entry.cause_id not in known \
                        and entry.created_at >= new_since - self.stripe_overlap_seconds:
                    intent = self.feed.payment_intent(entry.cause_id)
                    if intent is not None:
                        found.append(intent)
        return found


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _first_unique(ids: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(ids))[:limit]
