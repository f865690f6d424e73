"""Success rates: the share of issued numbers that received a code, from counters kept in time buckets.

Every activation that got a number is counted once, when its outcome is known: at its first SMS (a success)
or when it ends without one (canceled, timed out, reported bad before an SMS, dropped by the partner). A
revoke is an operator's act, not the partner's, and is not counted. The counters live in buckets of three
sizes, each kept a little longer than the window it serves:
- 5-minute buckets for routing (the last `window_seconds`, an hour by default), so a partner that starts
  failing loses traffic as soon as its failures land (a cancel is allowed after 2 minutes, a timeout at 20);
- hourly buckets for the last 24 hours and daily buckets for the last 7 days, which people read.
A window holds the buckets that overlap it, the current, partial one included.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

RECENT_BUCKET_SECONDS = 300
HOUR_SECONDS = 3600
DAY_SECONDS = 86_400
# How long each bucket is kept after it starts (its TTL): past that no window reads it.
KEEP_SECONDS = {"m": 2 * HOUR_SECONDS, "h": 26 * HOUR_SECONDS, "d": 8 * DAY_SECONDS}
BUCKET_SECONDS = {"m": RECENT_BUCKET_SECONDS, "h": HOUR_SECONDS, "d": DAY_SECONDS}


@dataclass(frozen=True)
class Bucket:
    """One counter item's place: its size ("m", "h", "d") and index (start time // size)."""

    size: str
    index: int

    @property
    def starts_at(self) -> int:
        return self.index * BUCKET_SECONDS[self.size]

    @property
    def expires_at(self) -> int:
        return self.starts_at + KEEP_SECONDS[self.size]


def buckets_at(now: float) -> tuple[Bucket, ...]:
    """The three buckets an outcome at `now` is added to."""
    return tuple(Bucket(size, int(now // seconds)) for size, seconds in BUCKET_SECONDS.items())


@dataclass(frozen=True)
class Tally:
    """Activations whose outcome is known (`ended`) and those of them that received a code."""

    ended: int = 0
    received: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.ended + other.ended, self.received + other.received)

    @property
    def rate(self) -> float | None:
        """received / ended; None before any outcome."""
        return self.received / self.ended if self.ended else None

    @property
    def percent(self) -> float | None:
        """The rate as people read it: a percentage with one decimal."""
        rate = self.rate
        return None if rate is None else round(rate * 100, 1)

    def as_json(self) -> dict[str, object]:
        return {"outcomes": self.ended, "received": self.received, "percent": self.percent}


@dataclass(frozen=True)
class Counted:
    """One counter item as read: a bucket of one partner's outcomes for one operator."""

    partner: str
    operator: str
    bucket: Bucket
    tally: Tally


@dataclass(frozen=True)
class Rates:
    """The three windows of one partner (and operator, or every operator) for one service and country."""

    recent: Tally = field(default_factory=Tally)
    day: Tally = field(default_factory=Tally)
    week: Tally = field(default_factory=Tally)

    def __add__(self, other: Rates) -> Rates:
        return Rates(self.recent + other.recent, self.day + other.day, self.week + other.week)


@dataclass(frozen=True)
class RoutingPolicy:
    """How rates steer orders: the recent window, the floor under which a partner is not offered, and the
    number of outcomes a rate needs before it counts (below it a partner is given the benefit of the doubt)."""

    window_seconds: int = HOUR_SECONDS
    floor: float = 0.2
    min_samples: int = 10
    band: float = 0.05  # rates this close are equal: the cheaper partner then wins

    def known(self, rates: Rates) -> float | None:
        """The rate routing uses, or None while the recent window has fewer than `min_samples` outcomes."""
        return rates.recent.rate if rates.recent.ended >= self.min_samples else None

    def collapsed(self, rates: Rates) -> bool:
        rate = self.known(rates)
        return rate is not None and rate < self.floor

    def preference(self, rates: Rates) -> int:
        """Lower is preferred: the rate's band, counted down from the top; an unknown rate ranks at the top, so a
        new (or recovered) partner gets the orders that teach us its rate."""
        rate = self.known(rates)
        bands = int(1 / self.band)
        return 0 if rate is None else bands - min(bands, int(rate / self.band + 1e-9))


def window_rates(counted: Iterable[Counted], now: float, window_seconds: int) -> dict[tuple[str, str], Rates]:
    """Sum the buckets of each (partner, operator) into its three windows at `now`."""
    starts = {"m": now - window_seconds, "h": now - 24 * HOUR_SECONDS, "d": now - 7 * DAY_SECONDS}
    found: dict[tuple[str, str], Rates] = {}
    for item in counted:
        if item.bucket.starts_at + BUCKET_SECONDS[item.bucket.size] <= starts[item.bucket.size]:
            continue  # ended before the window opened (an expired item DynamoDB has not deleted yet)
        if item.bucket.starts_at > now:
            continue
        size = item.bucket.size
        rates = Rates(recent=item.tally if size == "m" else Tally(), day=item.tally if size == "h" else Tally(),
                      week=item.tally if size == "d" else Tally())
        key = (item.partner, item.operator)
        found[key] = found.get(key, Rates()) + rates
    return found


def combined(rates: dict[tuple[str, str], Rates], partners: Sequence[str] | None = None,
             operator: str | None = None) -> Rates:
    """The rates of some partners (every one when None) for one operator (every one when None or "any")."""
    total = Rates()
    for (partner, op), value in rates.items():
        if (partners is None or partner in partners) and operator in (None, "any", op):
            total = total + value
    return total
