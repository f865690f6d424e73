"""Sign-in throttle counters (store/accounts.py `LoginThrottle`): failures in a sliding window and a block time.

`ThrottleStore` is the interface services/accounts/login_throttle.py works on; `DynamoThrottleStore` keeps the counts
in DynamoDB so every Lambda container sees them, tests/fakes/throttle_store.py keeps them in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pynamodb.exceptions import UpdateError

from chalicelib.store import values
from chalicelib.store.accounts import LoginThrottle

_TTL_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Throttle:
    key: str
    failures: int
    window_ends_at: float  # the count restarts after this
    blocked_until: float  # tries wait until then (0: not blocked)


class ThrottleStore(Protocol):
    def read(self, key: str) -> Throttle | None: ...

    def add_failure(self, key: str, now: float, window_ends_at: float) -> int:
        """Count a failure in the key's live window, or start a new window at one failure; the count after."""

    def block(self, key: str, until: float, window_ends_at: float) -> None: ...

    def forget(self, key: str) -> None: ...


class DynamoThrottleStore:
    def read(self, key: str) -> Throttle | None:
        return values.read(Throttle, LoginThrottle, key)

    def add_failure(self, key: str, now: float, window_ends_at: float) -> int:
        item = LoginThrottle(key)
        try:
            item.update(actions=[LoginThrottle.failures.add(1), LoginThrottle.window_ends_at.set(window_ends_at),
                                 LoginThrottle.expires_at.set(_ttl(window_ends_at))],
                        condition=LoginThrottle.window_ends_at > now)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            # No live window: start one. Two racing starts may count one failure too few, which is harmless.
            item = LoginThrottle(key, failures=1, window_ends_at=window_ends_at, blocked_until=0,
                                 expires_at=_ttl(window_ends_at))
            item.save()
        return int(item.failures)

    def block(self, key: str, until: float, window_ends_at: float) -> None:
        LoginThrottle(key).update(actions=[LoginThrottle.blocked_until.set(until),
                                           LoginThrottle.window_ends_at.set(window_ends_at),
                                           LoginThrottle.expires_at.set(_ttl(window_ends_at))])

    def forget(self, key: str) -> None:
        LoginThrottle(key).delete()


def _ttl(ts: float) -> datetime:
    return datetime.fromtimestamp(ts + _TTL_MARGIN_SECONDS, tz=UTC)
