"""Count the DynamoDB calls this process makes, with consumed capacity, by a botocore event hook on the one client.

Every model operation, transaction and direct client call of the process goes through the one shared
client (store.base.connection); PynamoDB asks for ReturnConsumedCapacity=TOTAL on item calls, so the
replies carry the capacity units DynamoDB charged. A call that fails with an answer (a condition that
does not hold) is counted too; one retried by botocore counts once.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chalicelib.store.base import connection


@dataclass(frozen=True)
class Call:
    operation: str
    capacity_units: float | None  # None when the reply carried no ConsumedCapacity


@dataclass
class CallLog:
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def by_operation(self) -> Counter[str]:
        return Counter(c.operation for c in self.calls)

    def capacity_units(self) -> float | None:
        units = [c.capacity_units for c in self.calls if c.capacity_units is not None]
        return sum(units) if units else None


@contextmanager
def count_dynamodb_calls() -> Iterator[CallLog]:
    """Within the block, every DynamoDB call of this process (any thread) is recorded, failed ones included."""
    log = CallLog()

    def record(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        log.record(Call(model.name, _capacity(parsed)))

    events = connection().client.meta.events
    events.register("after-call.dynamodb", record, unique_id="bench-count-dynamodb-calls")
    try:
        yield log
    finally:
        events.unregister("after-call.dynamodb", unique_id="bench-count-dynamodb-calls")


def _capacity(data: dict[str, Any] | None) -> float | None:
    consumed = (data or {}).get("ConsumedCapacity")
    if isinstance(consumed, dict):
        return float(consumed.get("CapacityUnits", 0))
    if isinstance(consumed, list):  # transactions and batches: one entry per table
        return float(sum(c.get("CapacityUnits", 0) for c in consumed))
    return None


def describe(log: CallLog, operations: int) -> tuple[str, str, str]:
    """(calls per operation, breakdown per operation, capacity units per operation) for a table row."""
    per = max(operations, 1)
    breakdown = ", ".join(f"{name} {count / per:g}" for name, count in sorted(log.by_operation().items()))
    units = log.capacity_units()
    return f"{len(log.calls) / per:g}", breakdown or "-", "n/a" if units is None else f"{units / per:g}"


def measure(times: int, operation: Callable[[int], object]) -> tuple[CallLog, list[float]]:
    """Run operation(i) for i in range(times); the DynamoDB calls they made and each one's wall time."""
    seconds = []
    with count_dynamodb_calls() as log:
        for i in range(times):
            started = time.perf_counter()
            operation(i)
            seconds.append(time.perf_counter() - started)
    return log, seconds
