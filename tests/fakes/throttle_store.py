"""In memory, what store/throttle_repo.py `DynamoThrottleStore` keeps in DynamoDB: sign-in failures per key."""
from __future__ import annotations

from dataclasses import replace

from chalicelib.store.throttle_repo import Throttle


class FakeThrottleStore:
    def __init__(self) -> None:
        self.items: dict[str, Throttle] = {}

    def read(self, key: str) -> Throttle | None:
        return self.items.get(key)

    def add_failure(self, key: str, now: float, window_ends_at: float) -> int:
        live = self.items.get(key)
        if live is None or live.window_ends_at <= now:
            self.items[key] = Throttle(key, failures=1, window_ends_at=window_ends_at, blocked_until=0)
        else:
            self.items[key] = replace(live, failures=live.failures + 1, window_ends_at=window_ends_at)
        return self.items[key].failures

    def block(self, key: str, until: float, window_ends_at: float) -> None:
        live = self.items.get(key) or Throttle(key, failures=0, window_ends_at=window_ends_at, blocked_until=0)
        self.items[key] = replace(live, blocked_until=until, window_ends_at=window_ends_at)

    def forget(self, key: str) -> None:
        self.items.pop(key, None)
