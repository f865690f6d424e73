"""Scheduled rental work: expiry, refunds of what a crash left unfinished, the SMS poll (services/rentals/upkeep)."""
from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.jobs.registry import job
from chalicelib.observability import logger


@job("rental_upkeep", rate_minutes=1, local_every_seconds=2)
def rental_upkeep(event: Any) -> None:
    done = {name: count for name, count in wiring.rentals().upkeep.run().items() if count}
    if done:
        logger.info("rental upkeep", extra=done)
