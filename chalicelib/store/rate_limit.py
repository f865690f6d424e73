"""Rate-limit windows: one counter item per client per fixed window, removed by TTL once the window is over.

`WindowCounter` is the interface the limiter counts through; `DynamoWindowCounter` its DynamoDB one,
tests/fakes/window_counter.py the same in memory (tests/integration/test_window_counter_contract.py runs both).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib.store.base import table
from chalicelib.store.transaction import THROTTLED


@table("rate_windows")
class RateWindow(Model):
    class Meta:
        table_name = "rate_windows"

    bucket = UnicodeAttribute(hash_key=True)  # "<client identity>#<window index>"
    hits = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)


class Throttled(Exception):
    """DynamoDB throttled the window's item: only a flood on that one client does that."""


class Unavailable(Exception):
    """The count could not be written (DynamoDB failing): the caller decides what a request gets then."""


class WindowCounter(Protocol):
    """Counts of requests per client per fixed window, shared by every container (services/platform/rate_limit.py)."""

    def add(self, bucket: str, hits: int, expires_at: float) -> int:
        """Add `hits` to the bucket's count (kept until `expires_at`); the count after. Raises Throttled or
        Unavailable."""


class DynamoWindowCounter:
    def add(self, bucket: str, hits: int, expires_at: float) -> int:
        item = RateWindow(bucket)
        try:
            item.update(actions=[RateWindow.hits.add(hits),
                                 RateWindow.expires_at.set(datetime.fromtimestamp(expires_at, tz=UTC))])
        except PynamoDBException as exc:
            if exc.cause_response_code in THROTTLED:
                raise Throttled(bucket) from None
            raise Unavailable(str(exc)) from None
        return int(item.hits)
