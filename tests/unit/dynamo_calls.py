"""Count the DynamoDB calls this process makes, by a botocore event hook on the one shared client."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chalicelib.store.base import connection


@dataclass
class Calls:
    operations: list[str] = field(default_factory=list)
    tables: list[str | None] = field(default_factory=list)  # the table of each call (None: a transaction)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.operations.append(model.name)
            self.tables.append(params.get("TableName"))

    def on(self, short_name: str) -> list[str]:
        """The operations on one table, by its short name (the stage prefix left out)."""
        return [op for op, table in zip(self.operations, self.tables, strict=True)
                if table is not None and table.endswith(short_name)]

    def by_operation(self) -> Counter[str]:
        return Counter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)


@contextmanager
def count_dynamodb_calls() -> Iterator[Calls]:
    """Every API call made on the shared client within the block (any thread; a retried call counts once)."""
    calls = Calls()
    events = connection().client.meta.events
    events.register("before-parameter-build.dynamodb", calls.record, unique_id="count-dynamodb-calls")
    try:
        yield calls
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="count-dynamodb-calls")
