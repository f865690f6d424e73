"""Scheduled work, declared once: app.py turns each into an `@app.schedule`, the local scheduler runs the same."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

Handler = Callable[[Any], Any]


class Job(NamedTuple):  # not a dataclass: defining one costs every cold start ~0.5 ms
    name: str
    rate_minutes: int  # deployed cadence (EventBridge's finest is one minute)
    local_every_seconds: float  # the local scheduler's cadence
    handler: Handler


JOBS: list[Job] = []


def job(name: str, *, rate_minutes: int = 1, local_every_seconds: float = 5) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        JOBS.append(Job(name=name, rate_minutes=rate_minutes, local_every_seconds=local_every_seconds, handler=fn))
        return fn

    return register
