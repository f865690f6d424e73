"""The user-webhook outbox's own reads (store/activations.py `WebhookDelivery`): an account's delivery log a page at
a time, the balance stream's pending event before a delivery, and the ledger balance a balance event reports."""
from __future__ import annotations

from pynamodb.expressions.condition import Condition

from chalicelib.domain.webhook_events import BALANCE_STREAM
from chalicelib.store.activations import WebhookDelivery as DeliveryRow
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.outbox_repo import Queue, WebhookDelivery, item_of


def log_page(account_id: str, *, below: str, limit: int, status: str | None = None,
             event_type: str | None = None) -> tuple[list[WebhookDelivery], str | None]:
    """One Query of at most `limit` of the account's deliveries with a log key below `below`, newest first (filters
    may make it short), and the log key to continue below (None: the log is done)."""
    where: Condition | None = None
    for condition in (DeliveryRow.status == status if status else None,
                      DeliveryRow.event_type == event_type if event_type else None):
        if condition is not None:
            where = condition if where is None else where & condition
    results = DeliveryRow.by_account.query(account_id, range_key_condition=DeliveryRow.log_key < below,
                                           filter_condition=where, scan_index_forward=False, page_size=limit)
    page = next(results.page_iter)
    items = [item_of(Queue.WEBHOOKS, DeliveryRow.from_raw_data(raw)) for raw in page.get("Items", [])]
    last = results.page_iter.last_evaluated_key
    return items, str(last["log_key"]["S"]) if last else None


def pending_balance_event_before(account_id: str, log_key: str, lookback: int) -> WebhookDelivery | None:
    """The newest pending first delivery of a balance event logged before `log_key`, among the `lookback` deliveries
    before it (one Query)."""
    before = DeliveryRow.by_account.query(
        account_id, DeliveryRow.log_key < log_key, scan_index_forward=False,
        filter_condition=(DeliveryRow.stream == BALANCE_STREAM) & (DeliveryRow.status == "pending")
        & DeliveryRow.redelivery_of.does_not_exist(), page_size=lookback)
    return next((item_of(Queue.WEBHOOKS, DeliveryRow.from_raw_data(raw))
                 for raw in next(before.page_iter).get("Items", [])), None)


def balance_after(account_id: str, seq: int) -> int | None:
    """The balance after ledger entry `seq` once sealed (None: not sealed, or no such entry)."""
    try:
        entry = LedgerEntry.get(account_id, seq, consistent_read=True)
    except LedgerEntry.DoesNotExist:
        return None
    return None if entry.balance_after_cents is None else int(entry.balance_after_cents)
