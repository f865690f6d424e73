"""The local scheduler: `chalice local` does not run `@app.schedule`, so this calls the same handlers on cadence."""
from __future__ import annotations

import time

from chalicelib.observability import logger
from infra.local.signals import stop_requested


def main() -> None:
    import app  # noqa: F401  (binds the models and registers the jobs exactly as deployed)
    from chalicelib.jobs.registry import JOBS

    stopping = stop_requested()
    next_run = {job.name: 0.0 for job in JOBS}
    logger.info("local scheduler started", extra={"jobs": [j.name for j in JOBS]})
    while not stopping.is_set():
        now = time.monotonic()
        for job in JOBS:
            if now >= next_run[job.name]:
                next_run[job.name] = now + job.local_every_seconds
                try:
                    job.handler(None)
                except Exception:  # a failing job must not stop the others; it runs again next tick
                    logger.exception("scheduled job failed", extra={"job": job.name})
        time.sleep(0.2)


if __name__ == "__main__":
    main()
