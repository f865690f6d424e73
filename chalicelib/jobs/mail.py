"""Scheduled mail work: send again what the sender refused (services/platform/mail_outbox.py)."""
from __future__ import annotations

from typing import Any

from chalicelib.jobs.registry import job
from chalicelib.observability import logger
from chalicelib.services.platform import container


@job("deliver_mail", rate_minutes=1, local_every_seconds=5)
def deliver_mail(event: Any) -> None:
    sent = container.mailer().deliver_due()
    if sent:
        logger.info("queued emails sent", extra={"count": sent})
