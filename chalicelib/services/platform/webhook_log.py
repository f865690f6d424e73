"""The user's webhook delivery log (newest first, a page at a time) and redelivery of one delivery on request.

The log is the outbox itself, read through its `by_account` index: each delivery as it stands (pending with its
next attempt, delivered, failed after its last attempt, skipped), kept a week after it settled. A redelivery is a
new delivery of the same event (same `event_id`, a new `delivery_id`), sent to the webhook as it is now, outside
the stream's order: it was asked for by name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pynamodb.expressions.condition import Condition

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.domain.history_cursor import decode_cursor, encode_cursor
from chalicelib.domain.ids import new_id
from chalicelib.services.platform import outbox
from chalicelib.services.platform.webhook_outbox import log_key
from chalicelib.store.accounts import Account
from chalicelib.store.activations import WebhookDelivery

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
    where: Condition | None = None
    for condition in (WebhookDelivery.status == status if status else None,
                      WebhookDelivery.event_type == event_type if event_type else None):
        if condition is not None:
            where = condition if where is None else where & condition
    results = WebhookDelivery.by_account.query(account_id, range_key_condition=WebhookDelivery.log_key < high,
                                               filter_condition=where, scan_index_forward=False, page_size=limit)
    page = next(results.page_iter)
    items = [WebhookDelivery.from_raw_data(raw) for raw in page.get("Items", [])]
    last = results.page_iter.last_evaluated_key
    next_cursor = encode_cursor(account_id, _LOG, str(last["log_key"]["S"])) if last else None
    return DeliveryPage(items, next_cursor)


class Redelivery:
    def __init__(self, clock: Clock, shards: int) -> None:
        self.clock = clock
        self.shards = shards

    def redeliver(self, account: Account, delivery_id: str) -> WebhookDelivery:
        """A new delivery of the event `delivery_id` carried, due now; NotFound for another account's or none."""
        try:
            original = WebhookDelivery.get(delivery_id, consistent_read=True)
        except WebhookDelivery.DoesNotExist:
            original = None
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
        copy.save(condition=WebhookDelivery.delivery_id.does_not_exist())
        return copy
