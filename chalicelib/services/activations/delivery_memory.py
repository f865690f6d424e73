"""What the platform remembers of its deliveries: success counters and numbers marked bad, written by the
transactions that settle an activation and read through short per-container caches.

Writes add items to transactions their callers already make (the first SMS, the end of an activation): they
cost no DynamoDB call of their own. Reads are one Query per (service, country) a container needs, at most once
per cache period, so an order in a warm container reads nothing here; the price list's view of every pair is
one Scan per container per period.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from chalicelib.config import Settings
from chalicelib.domain.activation import Activation
from chalicelib.domain.clock import Clock
from chalicelib.domain.delivery_rates import Rates, RoutingPolicy, window_rates
from chalicelib.store import routing as routing_store
from chalicelib.store.base import JoinedWrite

T = TypeVar("T")

# A user's report weighs a full mark; a timeout without an SMS a third of one (a number can be slow once).
MARK_THRESHOLD = 3
BAN_WEIGHT = 3
TIMEOUT_WEIGHT = 1
# How stale a container's view may be: a partner failing now loses traffic within this plus its failures' time.
RATES_CACHE_SECONDS = 15.0
LISTING_RATES_CACHE_SECONDS = 15.0
MARKS_CACHE_SECONDS = 30.0

PairRates = dict[tuple[str, str], Rates]  # (partner, operator) → its windows


class DeliveryMemory:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.policy = RoutingPolicy(window_seconds=settings.routing_window_seconds,
                                    floor=float(settings.routing_rate_floor), min_samples=settings.routing_min_samples)
        self._rates: dict[str, tuple[float, PairRates]] = {}
        self._listing: tuple[float, dict[str, PairRates]] | None = None
        self._marks: dict[str, tuple[float, tuple[str, ...]]] = {}

    # Writes (items of the caller's transaction) ----------------------------------------------------------
    def outcome_writes(self, activation: Activation, *, received: bool) -> list[JoinedWrite]:
        """Count the activation's outcome for its partner (it received a code, or ended without one); none when it
        had no partner."""
        if not activation.partner:
            return []
        return [routing_store.outcome_write(activation.service, activation.country, activation.partner,
                                            activation.operator or "any", received=received, now=self.clock.now(),
                                            activation_id=activation.activation_id)]

    def mark_writes(self, activation: Activation, weight: int) -> list[JoinedWrite]:
        """Weigh a report against the activation's number for its service (platform-wide); none without a number."""
        if not activation.phone:
            return []
        return [routing_store.mark_write(activation.service, activation.country, activation.phone, weight,
                                         now=self.clock.now(), keep_seconds=self.settings.marked_number_days * 86_400)]

    def remember_mark(self, activation: Activation) -> None:
        """This container saw the report commit: its own next order excludes the number at once."""
        key = routing_store.pair_key(activation.service, activation.country)
        cached = self._marks.get(key)
        if cached is not None and activation.phone and activation.phone not in cached[1]:
            self._marks[key] = (cached[0], (activation.phone, *cached[1]))

    # Reads ------------------------------------------------------------------------------------------------
    def rates(self, service: str, country: int) -> PairRates:
        key = routing_store.pair_key(service, country)
        return _cached(self._rates, key, RATES_CACHE_SECONDS,
                       lambda: window_rates(routing_store.counted(service, country), self.clock.now(),
                                            self.policy.window_seconds))

    def all_rates(self) -> dict[str, PairRates]:
        """Every pair's rates, keyed by routing_store.pair_key."""
        if self._listing is None or time.monotonic() - self._listing[0] >= LISTING_RATES_CACHE_SECONDS:
            now, window = self.clock.now(), self.policy.window_seconds
            self._listing = (time.monotonic(), {pair: window_rates(items, now, window)
                                                for pair, items in routing_store.counted_everywhere().items()})
        return self._listing[1]

    def by_partner(self) -> dict[str, list[dict[str, object]]]:
        """Per partner, every (service, country, operator) it has outcomes for, read fresh (the operator's view)."""
        now, policy = self.clock.now(), self.policy
        found: dict[str, list[dict[str, object]]] = {}
        for pair, items in sorted(routing_store.counted_everywhere().items()):
            service, _, country = pair.partition("#")
            for (partner, operator), rates in sorted(window_rates(items, now, policy.window_seconds).items()):
                found.setdefault(partner, []).append({
                    "service": service, "country": int(country), "operator": operator,
                    "recent": rates.recent.as_json(), "last_24h": rates.day.as_json(),
                    "last_7d": rates.week.as_json(), "not_offered": policy.collapsed(rates)})
        return found

    def marked(self, service: str, country: int) -> tuple[str, ...]:
        """The numbers that must not be sold for the service in the country, the latest marked first."""
        key = routing_store.pair_key(service, country)
        return _cached(self._marks, key, MARKS_CACHE_SECONDS, lambda: self._read_marks(service, country))

    def _read_marks(self, service: str, country: int) -> tuple[str, ...]:
        now = self.clock.now()
        live = [m for m in routing_store.marks(service, country) if m.weight >= MARK_THRESHOLD and m.expires_at > now]
        return tuple(m.phone for m in sorted(live, key=lambda m: -m.marked_at))


def _cached(cache: dict[str, tuple[float, T]], key: str, seconds: float, read: Callable[[], T]) -> T:
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < seconds:
        return hit[1]
    value = read()
    cache[key] = (time.monotonic(), value)
    return value
