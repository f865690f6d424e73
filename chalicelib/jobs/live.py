"""Scheduled live-updates work: close the sockets that connected but never proved who they are."""
from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.jobs.registry import job
from chalicelib.observability import logger


@job("close_silent_sockets", rate_minutes=1, local_every_seconds=2)
def close_silent_sockets(event: Any) -> None:
    closed = wiring.live_updates().close_silent()
    if closed:
        logger.info("silent live sockets closed", extra={"count": closed})
