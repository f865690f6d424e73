"""The user's webhook delivery log (newest first, a page at a time) and redelivery of one delivery on request.

The log is the outbox itself, read through its `by_account` index: each delivery as it stands (pending with its
next attempt, delivered, failed after its last attempt, skipped), kept a week after it settled. A redelivery is a
new delivery of the same event (same `event_id`, a new `delivery_id`), sent to the webhook as it is now, outside
the stream's order: it was asked for by name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.domain.history_cursor import decode_cursor, encode_cursor
from chalicelib.domain.ids import new_id
from chalicelib.services.platform import outbox
from chalicelib.services.platform.webhook_outbox import log_key
from chalicelib.store import outbox_repo, webhook_repo
from chalicelib.store.outbox_repo import Queue, WebhookDelivery

DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")
_LOG = "webhook_deliveries"
_LOG_KEY_END = "~"  # sorts after every log key


@dataclass(frozen=True)
class DeliveryPage:
    items: list[WebhookDelivery]
    next_cursor: str | None


def deliveries_page(account_id: str, limit: int, cursor: str | None, *, status: str | None = None,
                    event_type: str | None = None) -> DeliveryPage:
    """One Query of at most `limit` rows of the account's log; filters may make it short, with a cursor to go on."""
    high = _LOG_KEY_END
    if cursor:
        after = decode_cursor(cursor, account_id, _LOG)
        if not isinstance(after, str):
            raise InvalidInput("'cursor' is not a cursor this API gave out for this list.", details={"field": "cursor"})
        high = after
    items, last = webhook_repo.log_page(account_id, below=high, limit=limit, status=status, event_type=event_type)
    return DeliveryPage(items, encode_cursor(account_id, _LOG, last) if last else None)


class Redelivery:
    def __init__(self, clock: Clock, shards: int) -> None:
        self.clock = clock
        self.shards = shards

    def redeliver(self, account: Account, delivery_id: str) -> WebhookDelivery:
        """A new delivery of the event `delivery_id` carried, due now; NotFound for another account's or none."""
        original: WebhookDelivery | None = outbox_repo.get(Queue.WEBHOOKS, delivery_id)
        if original is None or original.account_id != account.account_id:
            raise NotFound("No such delivery.")
        if not account.webhook_url:
            raise Conflict("There is no webhook to deliver to: set one first (PUT /v1/webhook).", code="NO_WEBHOOK")
        if original.status == "pending":
            raise Conflict("This delivery is still being attempted; redeliver it once it has settled.",
                           code="DELIVERY_PENDING")
        now = self.clock.now()
        new_delivery_id = new_id("whd")
        body = json.loads(original.body)
        body["delivery_id"] = new_delivery_id
        copy = WebhookDelivery(new_delivery_id, account_id=account.account_id, url="",
                               body=json.dumps(body, separators=(",", ":")), next_attempt_at=now,
                               due=outbox.due_key(new_delivery_id, self.shards), created_at=now,
                               event_id=original.event_id, event_type=original.event_type, stream=original.stream,
                               sequence=original.sequence, redelivery_of=original.delivery_id,
                               log_key=log_key(now, new_delivery_id))
        outbox_repo.add(Queue.WEBHOOKS, copy, only_new=True)
        return copy
