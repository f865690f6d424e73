"""A per-partner circuit breaker, so a dead partner fails fast instead of slowing every order."""
from __future__ import annotations

import enum
import threading

from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.providers.base import PartnerUnavailable


class CircuitState(enum.Enum):
    CLOSED = "CLOSED"        # calls go through
    OPEN = "OPEN"            # calls fail at once until the cooldown is over
    HALF_OPEN = "HALF_OPEN"  # cooldown over: one probe call decides


class CircuitBreaker:
    """Closed → open after `failure_threshold` consecutive failures → half-open after `cooldown_seconds`.

    In half-open a single probe call is let through; its success closes the circuit, its failure
    opens it for another cooldown. Other calls made while the probe is in flight fail fast; a probe
    that never reports back (its caller crashed) is given up after one more cooldown.
    """

    def __init__(self, failure_threshold: int = 5, cooldown_seconds: float = 30.0, clock: Clock | None = None,
                 name: str = "partner") -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self._threshold = failure_threshold
        self._cooldown_seconds = cooldown_seconds
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started_at: float | None = None

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state_locked()

    def raise_if_open(self) -> None:
        """Let a call through, or raise PartnerUnavailable at once when the circuit is open."""
        with self._lock:
            state = self._state_locked()
            if state is CircuitState.CLOSED:
                return
            now = self._clock.now()
            if state is CircuitState.HALF_OPEN and not self._probe_running_locked(now):
                self._probe_started_at = now
                return
        raise PartnerUnavailable(f"{self.name}: circuit open after {self._threshold} consecutive failures")

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_started_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probe_started_at is not None or self._failures >= self._threshold:
                self._opened_at = self._clock.now()
            self._probe_started_at = None

    def _state_locked(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock.now() - self._opened_at >= self._cooldown_seconds:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def _probe_running_locked(self, now: float) -> bool:
        return self._probe_started_at is not None and now - self._probe_started_at < self._cooldown_seconds
