"""Scheduled rental work: expiry, refunds of what a crash left unfinished, the SMS poll (services/rentals/upkeep)."""
from __future__ import annotations

from typing import Any

from chalicelib.jobs.registry import job
from chalicelib.observability import logger


@job("rental_upkeep", rate_minutes=1, local_every_seconds=2)
def rental_upkeep(event: Any) -> None:
    from chalicelib.services.rentals import rentals  # on the job's first run, not at the API's cold start

    done = {name: count for name, count in rentals().upkeep.run().items() if count}
    if done:
        logger.info("rental upkeep", extra=done)
