"""Reconciliation's cost per ledger entry: the full run, the incremental run on a small change set, and what each
means at a million entries against the function's timeout. In this process, on DynamoDB Local.

The books are 20,000 entries on 1,000 accounts (an opening credit, then charges for numbers a partner issued, each
with its activation), written in batches as the wallet writes them: posting them one by one takes minutes here.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.context import BenchContext
from bench.dynamo import CallLog, count_dynamodb_calls, describe
from bench.registry import Needs, benchmark
from bench.report import Table
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.services.money.reconcile import DEFAULT_GRACE_SECONDS, Reconciler, ReconcileReport
from chalicelib.services.money.reconcile_incremental import RESERVE_SECONDS, IncrementalReconciler, TimeBudget
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account, reconcile_shard
from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from infra.template import ROOT

ACCOUNTS = 1_000
ENTRIES_PER_ACCOUNT = 20
CHANGED_ACCOUNTS = 10
MILLION = 1_000_000
STAGE = "prod"  # whose functions' timeouts the figures are held against (.chalice/config.json)
FIRST_ACTIVATION_ID = 900_000_000  # far above the counter the other benchmarks' orders draw from
COLUMNS = ["run", "entries in the books", "entries read", "accounts checked", "DynamoDB calls", "calls by API",
           "seconds", "our CPU s", "calls per 1k entries read", "ms per 1k entries read",
           "ratio to bare scan (ms/entry)", "at 1M entries"]


class Later:
    """The clock the runs use: far enough ahead that every posting of the arrangement is settled."""

    def now(self) -> float:
        return time.time() + DEFAULT_GRACE_SECONDS + 1


def arrange_books(accounts: int, entries_per_account: int, first_activation_id: int, *, changed: bool) -> list[str]:
    """Accounts with their ledgers and activations as the wallet and ordering leave them; `changed`: on the
    incremental run's list (as postings leave them), else as a run that found them clean leaves them."""
    now = time.time()
    ids = [new_id("rec") for _ in range(accounts)]
    charge = 100
    opening = charge * entries_per_account
    with Account.batch_write() as accounts_batch, LedgerEntry.batch_write() as ledger_batch, \
            Activation.batch_write() as activation_batch:
        for n, account_id in enumerate(ids):
            balance = opening
            ledger_batch.save(LedgerEntry(account_id, 1, entry_id=new_id("le"), amount_cents=opening,
                                          balance_after_cents=balance, kind=LedgerKind.ADJUSTMENT.value,
                                          cause_id=new_id("fund"), created_at=now))
            for seq in range(2, entries_per_account + 1):
                activation_id = first_activation_id + n * entries_per_account + seq
                balance -= charge
                ledger_batch.save(LedgerEntry(account_id, seq, entry_id=new_id("le"), amount_cents=-charge,
                                              balance_after_cents=balance, kind=LedgerKind.ACTIVATION_CHARGE.value,
                                              cause_id=str(activation_id), created_at=now))
                activation_batch.save(Activation(
                    activation_id, account_id=account_id, service="tg", country=0,
                    status=ActivationStatus.FINISHED.value, price_cents=charge, partner="sim",
                    partner_activation_id=f"b{activation_id}", created_at=now, expires_at=now + 1200, has_sms=True,
                    version=3))
            accounts_batch.save(Account(account_id, email=f"{account_id}@bench.test", status=AccountStatus.ACTIVE.value,
                                        balance_cents=balance, version=entries_per_account,
                                        ledger_seq=entries_per_account, created_at=now,
                                        reconcile_due_at=now if changed else None,
                                        reconcile_shard=reconcile_shard(account_id) if changed else None))
    return ids


@dataclass
class Measured:
    label: str
    whole: bool  # reads every entry (its cost grows with the books), or only what changed
    books: int  # ledger entries in the tables when it ran
    report: ReconcileReport
    log: CallLog
    seconds: float
    cpu_seconds: float  # this process's (every thread): deserializing and checking, not DynamoDB Local's work

    @property
    def entries(self) -> int:
        return self.report.checked.get("ledger_entries", 0)

    def ms_per_entry(self) -> float:
        return self.seconds * 1000 / max(self.entries, 1)


def measure_run(label: str, whole: bool, books: int, operation: Callable[[], ReconcileReport]) -> Measured:
    with count_dynamodb_calls() as log:
        started, cpu = time.perf_counter(), time.process_time()
        report = operation()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return Measured(label, whole, books, report, log, seconds, cpu_seconds)


def bare_scan() -> ReconcileReport:
    """The floor: every ledger entry read once, nothing checked."""
    return ReconcileReport(checked={"ledger_entries": sum(1 for _ in LedgerEntry.scan())})


@benchmark("reconcile-cost", order=45, needs=Needs.DYNAMODB)
def reconcile_cost(ctx: BenchContext) -> Table:
    table = Table(f"Reconciliation cost per ledger entry ({ACCOUNTS * ENTRIES_PER_ACCOUNT:,} entries on {ACCOUNTS:,} "
                  "accounts, in-process, DynamoDB Local)", COLUMNS,
                  goal=f"the scheduled (incremental) run fits its {lambda_timeout('reconcile')} s timeout at 1M "
                       "ledger entries")
    started = time.perf_counter()
    size = ACCOUNTS * ENTRIES_PER_ACCOUNT
    ids = arrange_books(ACCOUNTS, ENTRIES_PER_ACCOUNT, FIRST_ACTIVATION_ID, changed=True)
    arranged = time.perf_counter() - started
    reconciler = Reconciler(None, Later())
    incremental = IncrementalReconciler(reconciler, None)

    def changes() -> ReconcileReport:
        return incremental.run(TimeBudget.fixed(600))

    rows = [measure_run("bare Scan of the ledger (baseline)", True, size, bare_scan),
            measure_run("full run (`reconcile --full`)", True, size, reconciler.run),
            measure_run(f"incremental, all {ACCOUNTS:,} accounts changed", False, size, changes),
            measure_run("incremental, nothing changed", False, size, changes)]
    move_money(ids[:CHANGED_ACCOUNTS])
    rows.append(measure_run(f"incremental, {CHANGED_ACCOUNTS} accounts changed", False, size, changes))
    arrange_books(ACCOUNTS, ENTRIES_PER_ACCOUNT, FIRST_ACTIVATION_ID + size + 1, changed=False)
    move_money(ids[:CHANGED_ACCOUNTS])
    rows.append(measure_run(f"incremental, {CHANGED_ACCOUNTS} accounts changed", False, 2 * size, changes))
    for row in rows:
        table.add(row.label, *_cells(row, rows[0].ms_per_entry()))
    table.notes += [
        f"arranged in {arranged:.1f} s by batch writes; the full run also reads the other benchmarks' accounts",
        "'at 1M entries': a run that reads every entry, its time there (DynamoDB Local's pace); the incremental "
        "run, how many changed entries one run's budget covers: its cost follows the entries of the accounts "
        "that changed (their whole ledgers, top-ups and activations) plus 16 index queries, not the books' size "
        "(the last two rows: the same change set on books twice as big)",
        "our CPU s: this process's CPU time (PynamoDB deserializing, botocore, the checks), the part a Lambda "
        "pays whatever DynamoDB's speed",
        "Stripe is left out (no payment source): its listing grows with payments (100 a call), not ledger entries",
        "times are DynamoDB Local's on this shared machine (its 1 MB Scan pages take about a second here); the "
        "call counts carry over to DynamoDB",
    ]
    return table


def move_money(account_ids: list[str]) -> None:
    """One posting on each account, as the wallet makes it (which puts the account on the run's list)."""
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    for account_id in account_ids:
        wallet.post(account_id, 5, LedgerKind.ADJUSTMENT, new_id("bench"))


def lambda_timeout(function: str) -> int:
    """The function's timeout on STAGE as .chalice/config.json gives it (its own, else the stage's)."""
    stage = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][STAGE]
    own = stage.get("lambda_functions", {}).get(function, {})
    return int(own.get("lambda_timeout", stage.get("lambda_timeout", 60)))


def _cells(row: Measured, baseline_ms_per_entry: float) -> list[Any]:
    """A row's figures; 'at 1M entries' is the run's time there (a run that reads every entry) or how many changed
    entries one run's budget covers (the incremental run, whose cost does not depend on the books' size)."""
    calls, breakdown, _ = describe(row.log, 1)
    head = [f"{row.books:,}", row.entries, row.report.checked.get("accounts", 0), calls, breakdown,
            f"{row.seconds:.2f}", f"{row.cpu_seconds:.2f}"]
    if not row.entries:
        return [*head, "-", "-", "-", f"{row.seconds:.2f} s a run at any size"]
    per_entry_ms = row.ms_per_entry()
    figures = [f"{len(row.log.calls) * 1000 / row.entries:.1f}", f"{per_entry_ms * 1000:.1f}",
               f"{per_entry_ms / baseline_ms_per_entry:.2f}×"]
    if row.whole:
        at_million = per_entry_ms * MILLION / 1000
        cpu_at_million = row.cpu_seconds * MILLION / row.entries
        admin = lambda_timeout("admin")
        return [*head, *figures, f"{at_million:,.0f} s ({at_million / admin:.1f}× the admin function's {admin} s); "
                                 f"our CPU alone {cpu_at_million:,.0f} s"]
    budget = lambda_timeout("reconcile") - RESERVE_SECONDS
    return [*head, *figures, f"any size: one run ({budget:g} s) covers ~{budget * 1000 / per_entry_ms:,.0f} "
                             "entries of changed accounts"]
