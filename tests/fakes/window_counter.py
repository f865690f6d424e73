"""In memory, what store/rate_limit.py `DynamoWindowCounter` keeps in DynamoDB: request counts per client per window."""
from __future__ import annotations

from chalicelib.store.rate_limit import Throttled, Unavailable


class FakeWindowCounter:
    """Every limiter given the same instance shares its counts, as containers share the table. `failing` makes
    the next writes fail as DynamoDB would: "throttled" or "unavailable"."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.expires_at: dict[str, float] = {}
        self.failing: str | None = None

    def add(self, bucket: str, hits: int, expires_at: float) -> int:
        if self.failing == "throttled":
            raise Throttled(bucket)
        if self.failing == "unavailable":
            raise Unavailable("UpdateItem failed: connection reset")
        self.hits[bucket] = self.hits.get(bucket, 0) + hits
        self.expires_at[bucket] = expires_at
        return self.hits[bucket]
