"""Time comes from here, so tests can hand in a clock they control (tests/clock.py: FixedClock)."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""


class SystemClock:
    def now(self) -> float:
        return time.time()


def iso(ts: float) -> str:
    """ISO-8601 UTC with a Z, second precision: what our JSON shows."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def protocol_time(ts: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC, as the SMS-Activate protocol writes times."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
