"""Scheduled activation work: prices, polls, expiry, stuck orders, user webhooks, partner calls that failed."""
from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.config import get_settings
from chalicelib.jobs.registry import job
from chalicelib.observability import logger


@job("refresh_prices", rate_minutes=5, local_every_seconds=60)
def refresh_prices(event: Any) -> None:
    logger.info("prices refreshed", extra={"offers": wiring.activations().refresh_prices()})


@job("poll_partners", rate_minutes=1, local_every_seconds=2)
def poll_partners(event: Any) -> None:
    settings = get_settings()
    wiring.activations().poll_for(settings.poll_sweep_seconds, settings.poll_every_seconds)


@job("expire_overdue_activations", rate_minutes=1, local_every_seconds=2)
def expire_overdue_activations(event: Any) -> None:
    ended = wiring.activations().expire_overdue_activations()
    if ended:
        logger.info("activations expired", extra={"count": ended})


@job("resolve_stale_pending", rate_minutes=1, local_every_seconds=2)
def resolve_stale_pending(event: Any) -> None:
    resolved = wiring.activations().resolve_stale_pending()
    if resolved:
        logger.warning("stuck orders resolved", extra={"count": resolved})


@job("deliver_user_webhooks", rate_minutes=1, local_every_seconds=1)
def deliver_user_webhooks(event: Any) -> None:
    delivered = wiring.activations().deliver_user_webhooks()
    if delivered:
        logger.info("user webhooks delivered", extra={"count": delivered})


@job("retry_partner_calls", rate_minutes=1, local_every_seconds=5)
def retry_partner_calls(event: Any) -> None:
    told = wiring.activations().retry_partner_calls()
    if told:
        logger.info("queued partner calls made", extra={"count": told})
