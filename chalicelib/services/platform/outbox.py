"""What the service's outboxes (user webhooks, partner calls) share: take an item for one attempt, back off, settle.

An item is a PynamoDB model with `next_attempt_at`, `due` (present while the item waits: a sparse index),
`attempts`, `status`, `last_error` and a TTL `expires_at`.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.domain.clock import Clock

DUE = "due"
LEASE_SECONDS = 60.0
KEEP_SETTLED_SECONDS = 7 * 24 * 3600
MAX_BACKOFF_SECONDS = 3600.0


def due_key(item_id: str, shards: int) -> str:
    """The due index's key of a waiting item: DUE and a shard from its id, so the queue spreads over partitions."""
    return f"{DUE}#{zlib.crc32(item_id.encode()) % shards}"


def due_items(index: Any, has_come: Condition, shards: int, limit: int) -> Iterator[Any]:
    """Items whose next attempt has come: one query per shard (and the bare DUE of items queued before shards)."""
    for key in (DUE, *(f"{DUE}#{shard}" for shard in range(shards))):
        yield from list(index.query(key, has_come, limit=limit))


def lease(item: Any, clock: Clock) -> bool:
    """Take the item for this attempt (its next attempt pushed past the lease); False when another worker has it."""
    model = type(item)
    previous = item.next_attempt_at
    try:
        item.update(actions=[model.next_attempt_at.set(clock.now() + LEASE_SECONDS)],
                    condition=(model.next_attempt_at == previous) & model.due.exists())
        return True
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False


def retry_later(item: Any, clock: Clock, error: str, *, max_attempts: int, first_backoff_seconds: float,
                also: Sequence[Action] = ()) -> bool:
    """Count the failed attempt and wait longer each time; False (settled as failed) once attempts run out.
    `also`: the caller's own attributes to set with it (what the attempt saw)."""
    model = type(item)
    attempts = int(item.attempts) + 1
    if attempts >= max_attempts:
        settle(item, clock, "failed", error, attempts, also=also)
        return False
    backoff = min(first_backoff_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
    item.update(actions=[model.attempts.set(attempts), model.last_error.set(error),
                         model.next_attempt_at.set(clock.now() + backoff), *also])
    return True


def settle(item: Any, clock: Clock, status: str, error: str | None, attempts: int | None = None, *,
           also: Sequence[Action] = ()) -> None:
    """Done with the item: out of the due index, kept a week for inspection, then expired by TTL."""
    model = type(item)
    expires = datetime.fromtimestamp(clock.now() + KEEP_SETTLED_SECONDS, tz=UTC)
    actions: list[Action] = [model.status.set(status), model.due.remove(),
                             model.attempts.set(attempts if attempts is not None else int(item.attempts) + 1),
                             model.expires_at.set(expires), *also]
    if error is not None:
        actions.append(model.last_error.set(error))
    item.update(actions=actions)
