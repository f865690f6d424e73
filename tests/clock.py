"""A clock tests move by hand: the test twin of chalicelib.domain.clock.SystemClock (it never ships)."""
from __future__ import annotations


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
