"""Queue a webhook event inside the transaction that makes the change it tells of (the outbox's write side).

`enqueuing` is the one way an event enters the outbox: a Put on `webhook_deliveries` (a `JoinedWrite`) the caller
adds to the transaction of its change, so the event exists exactly when the change committed, and a retried
transaction cannot queue it twice (its id is derived from the account, stream and sequence; the Put is conditional).
services/platform/user_webhooks.py delivers it. A new kind of event (rentals, say) needs only an EventType and a call
here in its own transaction.
"""
from __future__ import annotations

import json

from chalicelib.domain.clock import iso
from chalicelib.domain.webhook_events import Subscriber, WebhookEvent, event_id_of, subscribes
from chalicelib.services.platform import outbox
from chalicelib.store import outbox_repo
from chalicelib.store.base import JoinedWrite
from chalicelib.store.outbox_repo import Queue, WebhookDelivery

_FIRST_DELIVERY_PREFIX = "whd_"


def enqueuing(account: Subscriber, event: WebhookEvent, *, shards: int,
              after_sequence: int | None = None) -> JoinedWrite | None:
    """The event's first delivery, for the transaction of the change it tells of, when the account's webhook takes
    it; None when it does not.

    `after_sequence`: the sequence of the last event queued on the same stream; this one is not sent before it.
    """
    if not subscribes(account, event.type):
        return None
    return queuing(account.account_id, event, shards=shards, after_sequence=after_sequence)


def queuing(account_id: str, event: WebhookEvent, *, shards: int, after_sequence: int | None = None) -> JoinedWrite:
    """The event's first delivery unread: for a caller that knows the account subscribed (an activation ordered while
    its webhook took status changes). Delivery asks the account again and skips an event it no longer takes."""
    event_id = event.event_id(account_id)
    after = (first_delivery_id(event_id_of(account_id, event.stream, after_sequence))
             if after_sequence is not None else None)
    return outbox_repo.adding(Queue.WEBHOOKS, new_delivery(account_id, event, event_id, first_delivery_id(event_id),
                                                           event.occurred_at, shards=shards, after=after))


def new_delivery(account_id: str, event: WebhookEvent, event_id: str, delivery_id: str, now: float, *,
                 shards: int, after: str | None = None, redelivery_of: str | None = None) -> WebhookDelivery:
    body = json.dumps({"event": event.type.value, "event_id": event_id, "stream": event.stream,
                       "sequence": event.sequence, "created_at": iso(event.occurred_at), **event.data,
                       "delivery_id": delivery_id}, separators=(",", ":"))
    return WebhookDelivery(delivery_id, account_id=account_id, url="", body=body,
                           next_attempt_at=now, due=outbox.due_key(delivery_id, max(shards, 1)), created_at=now,
                           event_id=event_id, event_type=event.type.value, stream=event.stream,
                           sequence=event.sequence, after_delivery_id=after, redelivery_of=redelivery_of,
                           log_key=log_key(now, delivery_id))


def first_delivery_id(event_id: str) -> str:
    """The first delivery of an event has an id derived from it: a later event finds it without a query."""
    return _FIRST_DELIVERY_PREFIX + event_id.removeprefix("evt_")


def log_key(now: float, delivery_id: str) -> str:
    return f"{max(0, int(now * 1000)):013d}#{delivery_id}"
