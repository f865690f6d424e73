"""The scheduled reconciliation: the same checks as `bin/admin reconcile`, reported as a metric an alarm can watch."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.config import get_settings
from chalicelib.jobs.registry import job
from chalicelib.observability import logger, metrics
from chalicelib.services import container
from chalicelib.services.reconcile import Reconciler, ReconcileReport, StripePaymentIntents

METRIC = "LedgerDiscrepancies"


def reconcile_books(reconciler: Reconciler) -> ReconcileReport:
    """Run every check, log each discrepancy and emit their count (0 on clean books, so the alarm has data)."""
    report = reconciler.run()
    for discrepancy in report.discrepancies:
        logger.error("ledger discrepancy", extra=discrepancy.to_json())
    metrics.add_metric(name=METRIC, unit=MetricUnit.Count, value=len(report.discrepancies))
    metrics.flush_metrics()
    logger.info("reconciled", extra={"checked": report.checked, "discrepancies": len(report.discrepancies)})
    return report


@job("reconcile", rate_minutes=60, local_every_seconds=600)
def reconcile(event: Any) -> None:
    settings = get_settings()
    clock = container.clock()
    intents = StripePaymentIntents(settings.stripe_secret_key, settings.stripe_api_base, clock)
    reconcile_books(Reconciler(intents, clock))
