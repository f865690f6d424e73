"""Queue a webhook event inside the transaction that makes the change it tells of (the outbox's write side).

`enqueue_event` is the one way an event enters the outbox: a Put on `webhook_deliveries` added to the caller's
TransactWrite, so the event exists exactly when the change committed, and a retried transaction cannot queue it
twice (its id is derived from the account, stream and sequence; the Put is conditional). services/user_webhooks.py
delivers it. A new kind of event (rentals, say) needs only an EventType and a call here in its own transaction.
"""
from __future__ import annotations

import json

from pynamodb.transactions import TransactWrite

from chalicelib.domain.clock import iso
from chalicelib.domain.webhook_events import EventType, WebhookEvent, event_id_of, stored_event_types
from chalicelib.services.platform import outbox
from chalicelib.store.accounts import Account
from chalicelib.store.activations import WebhookDelivery

_FIRST_DELIVERY_PREFIX = "whd_"


def subscribes(account: Account, event_type: EventType) -> bool:
    """Whether the account has a webhook and it takes `event_type`."""
    return bool(account.webhook_url) and event_type in stored_event_types(account.webhook_events)


def enqueue_event(tx: TransactWrite, account: Account, event: WebhookEvent, *, shards: int,
                  after_sequence: int | None = None) -> bool:
    """Add the event's first delivery to `tx` when the account's webhook takes it; whether it was added.

    `after_sequence`: the sequence of the last event queued on the same stream; this one is not sent before it.
    """
    if not subscribes(account, event.type):
        return False
    queue_event(tx, account.account_id, event, shards=shards, after_sequence=after_sequence)
    return True


def queue_event(tx: TransactWrite, account_id: str, event: WebhookEvent, *, shards: int,
                after_sequence: int | None = None) -> None:
    """Add the event to `tx` unread: for a caller that knows the account subscribed (an activation ordered while its
    webhook took status changes). Delivery asks the account again and skips an event it no longer takes."""
    event_id = event.event_id(account_id)
    after = (first_delivery_id(event_id_of(account_id, event.stream, after_sequence))
             if after_sequence is not None else None)
    tx.save(new_delivery(account_id, event, event_id, first_delivery_id(event_id), event.occurred_at, shards=shards,
                         after=after),
            condition=WebhookDelivery.delivery_id.does_not_exist())


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
