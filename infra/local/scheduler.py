"""The local scheduler: `chalice local` does not run `@app.schedule`, so this calls the same handlers on cadence."""
from __future__ import annotations

import signal
import time
from typing import Any

from chalicelib.observability import logger


def main() -> None:
    import app  # noqa: F401  (binds the models and registers the jobs exactly as deployed)
    from chalicelib.jobs.registry import JOBS

    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_run = {job.name: 0.0 for job in JOBS}
    logger.info("local scheduler started", extra={"jobs": [j.name for j in JOBS]})
    while not stopping:
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
