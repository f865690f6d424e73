"""What the service's outboxes (mail, partner calls, user webhooks) share: take an item for one attempt, back off,
settle.

An item waits in its queue's sparse `due` index (store/outbox_repo.py) under DUE or a shard of it until it is
settled; `attempts`, `last_error` and `status` say how it went, and a settled item expires a week later.
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.clock import Clock
from chalicelib.store import outbox_repo
from chalicelib.store.outbox_repo import Item, Queue

DUE = "due"
LEASE_SECONDS = 60.0
KEEP_SETTLED_SECONDS = 7 * 24 * 3600
MAX_BACKOFF_SECONDS = 3600.0


def due_key(item_id: str, shards: int) -> str:
    """The due index's key of a waiting item: DUE and a shard from its id, so the queue spreads over partitions."""
    return f"{DUE}#{zlib.crc32(item_id.encode()) % shards}"


def due_items(queue: Queue, now: float, shards: int, limit: int) -> list[Any]:
    """Items whose next attempt has come: one query per shard (and the bare DUE of items queued before shards)."""
    return outbox_repo.due(queue, (DUE, *(f"{DUE}#{shard}" for shard in range(shards))), now, limit)


def lease(queue: Queue, item: Item, clock: Clock) -> bool:
    """Take the item for this attempt (its next attempt pushed past the lease); False when another worker has it."""
    return outbox_repo.lease(queue, item.item_id, item.next_attempt_at, clock.now() + LEASE_SECONDS)


def retry_later(queue: Queue, item: Item, clock: Clock, error: str, *, max_attempts: int,
                first_backoff_seconds: float, also: Mapping[str, object] = {}) -> bool:
    """Count the failed attempt and wait longer each time; False (settled as failed) once attempts run out.
    `also`: the caller's own attributes to set with it (what the attempt saw)."""
    attempts = item.attempts + 1
    if attempts >= max_attempts:
        settle(queue, item, clock, "failed", error, attempts, also=also)
        return False
    backoff = min(first_backoff_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
    outbox_repo.change(queue, item.item_id, {"attempts": attempts, "last_error": error,
                                             "next_attempt_at": clock.now() + backoff, **also})
    return True


def settle(queue: Queue, item: Item, clock: Clock, status: str, error: str | None, attempts: int | None = None, *,
           also: Mapping[str, object] = {}) -> None:
    """Done with the item: out of the due index, kept a week for inspection, then expired by TTL."""
    values: dict[str, object] = {"status": status, "attempts": attempts if attempts is not None else item.attempts + 1,
                                 **also}
    if error is not None:
        values["last_error"] = error
    outbox_repo.change(queue, item.item_id, values, expires_at=clock.now() + KEEP_SETTLED_SECONDS, leave_due=True)
