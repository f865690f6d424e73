"""Scheduled mail work: send again what the sender refused (services/platform/mail_outbox.py), announce a new
agreement version (services/accounts/agreement_notices.py)."""
from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.jobs.registry import job
from chalicelib.observability import logger


@job("deliver_mail", rate_minutes=1, local_every_seconds=5)
def deliver_mail(event: Any) -> None:
    sent = wiring.mailer().deliver_due()
    if sent:
        logger.info("queued emails sent", extra={"count": sent})


@job("notify_agreement", rate_minutes=1, local_every_seconds=5)
def notify_agreement(event: Any) -> None:
    """Queue the next page of emails about a newly published agreement version (services/agreement_notices.py)."""
    from chalicelib.config import get_settings
    from chalicelib.services.accounts.agreement_notices import AgreementNotices

    queued = AgreementNotices(wiring.clock(), get_settings().public_base_url).run()
    if queued:
        logger.info("agreement notices queued", extra={"count": queued})
