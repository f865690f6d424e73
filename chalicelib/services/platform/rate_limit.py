"""Rate limits (agreement 4.1): per API key or session token, else per IP, counted in a DynamoDB fixed window.

Our published limit: each client may make `rate_limit_burst` requests (default 100) in a window of
burst / per_second seconds (default 100 / 20 = 5 s): 20 requests a second sustained, bursts of 100
(5sim allows 100 a second to a whole account; a reseller's clients are smaller). Past it the REST API
answers 429 with Retry-After, and the handler API its own answer, from the same `admit`.

A client is its bearer credential when it sends one, so people behind one NAT keep their own
budget, and its IP otherwise (sign-up, login, public lists). Each container counts its clients in
memory, and a client's first half budget in a window costs nothing else: only past that does the
container write the shared count in DynamoDB (`ADD hits n` on an item per client per window, deleted
by TTL afterwards), so a client well inside its limit never costs a write, and one nearing it is
judged on the count of every container. The price of the free half: a client spread over k
containers can pass up to (k - 1) × half a budget more in one window before any of them writes.
A container remembers who is over the limit in the current window and refuses them without a call,
so a flood stops costing writes once refused. Any DynamoDB failure other than throttling lets the
request through: a limiter outage must not take the API down.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.ids import sha256_hex
from chalicelib.observability import logger
from chalicelib.store.rate_limit import DynamoWindowCounter, Throttled, Unavailable, WindowCounter

_TTL_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Limit:
    requests: int
    window_seconds: int

    @classmethod
    def of(cls, per_second: int, burst: int) -> Limit | None:
        """The window that allows `burst` at once and `per_second` sustained; None (no limit) when either is ≤ 0."""
        if per_second <= 0 or burst <= 0:
            return None
        return cls(requests=burst, window_seconds=max(1, math.ceil(burst / per_second)))


def client_identity(secret: str | None, ip: str | None) -> str:
    """Whose budget a request spends: its credential (hashed, never stored as is) or its IP."""
    if secret:
        return "key:" + sha256_hex("rate-limit:" + secret)[:32]
    return "ip:" + (ip or "unknown")


class RateLimiter:
    def __init__(self, limit: Limit | None, clock: Clock, counter: WindowCounter | None = None) -> None:
        self.limit = limit
        self.clock = clock
        self.counter = counter or DynamoWindowCounter()
        self._window = -1
        self._over: set[str] = set()
        self._seen: dict[str, int] = {}  # requests of this window counted here
        self._unshared: dict[str, int] = {}  # of those, not yet added to the shared count
        self._lock = threading.Lock()

    def admit(self, identity: str) -> None:
        """Count one request of `identity`; raises RateLimited (with retry_after_seconds) past the limit."""
        if self.limit is None:
            return
        now = self.clock.now()
        window = int(now // self.limit.window_seconds)
        unshared = self._count(identity, window)
        if unshared and self._hits(identity, window, unshared) > self.limit.requests:
            with self._lock:
                self._over.add(identity)
        if identity in self._over:
            raise self._refusal(now, window)

    def _count(self, identity: str, window: int) -> int:
        """Count the request here; what must now be added to the shared count (0 while inside the free half)."""
        assert self.limit is not None
        with self._lock:
            if window != self._window:
                self._window, self._over, self._seen, self._unshared = window, set(), {}, {}
            if identity in self._over:
                return 0
            seen = self._seen[identity] = self._seen.get(identity, 0) + 1
            unshared = self._unshared[identity] = self._unshared.get(identity, 0) + 1
            if seen <= self.limit.requests // 2:
                return 0
            del self._unshared[identity]
            return unshared

    def _hits(self, identity: str, window: int, add: int) -> int:
        assert self.limit is not None
        ends_at = (window + 1) * self.limit.window_seconds
        try:
            return self.counter.add(f"{identity}#{window}", add, ends_at + _TTL_MARGIN_SECONDS)
        except Throttled:
            # DynamoDB throttles one item only under a flood on it: that client is over any limit.
            return self.limit.requests + 1
        except Unavailable as exc:
            logger.warning("rate limiter unavailable; request let through", extra={"error": str(exc)})
            return 0

    def _refusal(self, now: float, window: int) -> RateLimited:
        assert self.limit is not None
        retry_after = max(1, math.ceil((window + 1) * self.limit.window_seconds - now))
        return RateLimited(f"Too many requests: at most {self.limit.requests} every {self.limit.window_seconds} "
                           f"seconds. Try again in {retry_after} seconds.", retry_after_seconds=retry_after)


# Unknown credentials presented from one IP: past 30 in 10 seconds, that IP is refused (429) for the rest of
# the window. Budgets are per credential, so without this a guesser gets a fresh budget with every guess;
# the short window keeps a stale dashboard tab (a 401 every few seconds) far from it.
FAILED_CREDENTIALS = Limit(requests=30, window_seconds=10)


def admit_failed_credential(failed: RateLimiter, ip: str | None) -> None:
    """Count one unknown credential from `ip` (`failed`: the FAILED_CREDENTIALS limiter); raises RateLimited once the
    IP has guessed too often."""
    failed.admit("badkey:" + (ip or "unknown"))


def admit_request(limiter: RateLimiter, secret: str | None, ip: str | None) -> None:
    """Count a request against its client's budget (the REST middleware and the handler API call this)."""
    limiter.admit(client_identity(secret, ip))
