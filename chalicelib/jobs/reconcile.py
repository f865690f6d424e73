"""The scheduled reconciliation: what changed since the last run, reported as metrics an alarm can watch.

Every run emits `LedgerDiscrepancies` (0 on clean books, so the alarm has data) and `ReconcileFailed` (1 when
the run raised: the exception is logged in one line, the metric flushed, and the error re-raised so the
schedule's retries and dead-letter queue see it too). `ReconcileBacklog` is what a run left for the next one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib import wiring
from chalicelib.jobs.registry import job
from chalicelib.observability import emit_counts, logger

if TYPE_CHECKING:  # the services are imported on the first run: the API's cold start does not load them
    from chalicelib.services.money.reconcile import ReconcileReport

METRIC = "LedgerDiscrepancies"
FAILED_METRIC = "ReconcileFailed"
BACKLOG_METRIC = "ReconcileBacklog"


def reconcile_books(run: Callable[[], ReconcileReport]) -> ReconcileReport:
    """Run the checks, log each discrepancy and emit the metrics; a failure is counted before it propagates."""
    try:
        report = run()
    except Exception as error:
        logger.exception("reconcile failed", extra={"error": type(error).__name__})
        emit_counts({FAILED_METRIC: 1})
        raise
    for discrepancy in report.discrepancies:
        logger.error("ledger discrepancy", extra=discrepancy.to_json())
    emit_counts({METRIC: len(report.discrepancies), FAILED_METRIC: 0, BACKLOG_METRIC: report.backlog})
    logger.info("reconciled", extra={"mode": report.mode, "complete": report.complete, "checked": report.checked,
                                     "discrepancies": len(report.discrepancies), "backlog": report.backlog})
    return report


@job("reconcile", rate_minutes=15, local_every_seconds=600)
def reconcile(event: Any) -> None:
    from chalicelib.services.money.reconcile_incremental import TimeBudget

    budget = TimeBudget.of_lambda(getattr(event, "context", None))
    reconcile_books(lambda: wiring.incremental_reconciler().run(budget))  # settings too: a missing one is a failed run
