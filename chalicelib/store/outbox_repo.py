"""The service's three outboxes as values: queued mail (store/mail.py), partner calls and user-webhook deliveries
(store/activations.py). Each item waits in a sparse `due` index until it is settled; services/platform/outbox.py
decides when, this module writes it: lease, retry, settle, and the few attributes an attempt records.

A change names attributes as the model does (`also=`); None removes one.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.store import values
from chalicelib.store.activations import PartnerCall as PartnerCallRow
from chalicelib.store.activations import WebhookDelivery as DeliveryRow
from chalicelib.store.base import JoinedWrite
from chalicelib.store.mail import QueuedMail as MailRow
from chalicelib.store.transaction import putting, refused_if_condition_failed
from chalicelib.store.values import row_of, value_of


class Queue(enum.Enum):
    MAIL = "mail_outbox"
    PARTNER_CALLS = "partner_calls"
    WEBHOOKS = "webhook_deliveries"


@dataclass(frozen=True)
class QueuedMail:
    mail_id: str
    to: str
    subject: str
    next_attempt_at: float
    created_at: float
    body: str | None = None  # removed once settled: its links carry one-time tokens
    status: str = "pending"  # pending | sent | failed
    attempts: int = 1
    due: str | None = None
    last_error: str | None = None

    @property
    def item_id(self) -> str:
        return self.mail_id


@dataclass(frozen=True)
class PartnerCall:
    call_id: str  # partner#partner_activation_id#action: one per activation and action
    partner: str
    partner_activation_id: str
    action: str  # services.platform.partner_calls.PartnerAction value
    next_attempt_at: float
    created_at: float
    status: str = "pending"  # pending | done | failed
    attempts: int = 1
    due: str | None = None
    last_error: str | None = None

    @property
    def item_id(self) -> str:
        return self.call_id


@dataclass(frozen=True)
class WebhookDelivery:
    delivery_id: str
    account_id: str
    url: str
    body: str  # the exact JSON that is signed and sent
    next_attempt_at: float
    created_at: float
    status: str = "pending"  # pending | delivered | failed | skipped
    attempts: int = 0
    due: str | None = None
    last_error: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    stream: str | None = None
    sequence: int | None = None
    after_delivery_id: str | None = None
    redelivery_of: str | None = None
    last_status_code: int | None = None
    delivered_at: float | None = None
    log_key: str | None = None

    @property
    def item_id(self) -> str:
        return self.delivery_id


Item = QueuedMail | PartnerCall | WebhookDelivery
_ROWS: dict[Queue, type[Model]] = {Queue.MAIL: MailRow, Queue.PARTNER_CALLS: PartnerCallRow,
                                   Queue.WEBHOOKS: DeliveryRow}
_VALUES: dict[Queue, type[Any]] = {Queue.MAIL: QueuedMail, Queue.PARTNER_CALLS: PartnerCall,
                                   Queue.WEBHOOKS: WebhookDelivery}


def item_of(queue: Queue, row: Model) -> Any:
    """The value of a queue's row as PynamoDB read it (the expiry is the store's business and is left out)."""
    return value_of(_VALUES[queue], row)


def _key_row(queue: Queue, item_id: str) -> Any:
    return _ROWS[queue](item_id)


def get(queue: Queue, item_id: str) -> Any:
    """The item, strongly consistent, or None."""
    return values.read(_VALUES[queue], _ROWS[queue], item_id)


def due(queue: Queue, keys: Sequence[str], before: float, limit: int) -> list[Any]:
    """Items whose next attempt is at or before `before`, from the due index under each of `keys` (a shard each)."""
    model: Any = _ROWS[queue]
    index = model.due_mail if queue is Queue.MAIL else (
        model.due_calls if queue is Queue.PARTNER_CALLS else model.due_deliveries)
    return [item_of(queue, row) for key in keys
            for row in list(index.query(key, model.next_attempt_at <= before, limit=limit))]


def add(queue: Queue, item: Item, *, only_new: bool = False) -> bool:
    """Write the item; with `only_new`, only when its id is free (False: it was queued before)."""
    row = row_of(_ROWS[queue], item)
    model: Any = _ROWS[queue]
    try:
        row.save(condition=getattr(model, model._hash_keyname).does_not_exist() if only_new else None)
    except PutError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def adding(queue: Queue, item: Item) -> JoinedWrite:
    """The item's Put inside another's transaction, refused when its id exists (a retried change queues it once)."""
    model: Any = _ROWS[queue]
    return putting(row_of(model, item), getattr(model, model._hash_keyname).does_not_exist())


def lease(queue: Queue, item_id: str, expected_next_attempt_at: float, until: float) -> bool:
    """Push the item's next attempt to `until` if nobody moved it since it was read and it still waits; False when
    another worker has it."""
    model: Any = _ROWS[queue]
    try:
        _key_row(queue, item_id).update(actions=[model.next_attempt_at.set(until)],
                                        condition=(model.next_attempt_at == expected_next_attempt_at)
                                        & model.due.exists())
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def change(queue: Queue, item_id: str, values: Mapping[str, object], *, expires_at: float | None = None,
           leave_due: bool = False) -> None:
    """Set (None: remove) attributes of the item; `expires_at` sets its expiry, `leave_due` takes it off the
    due index (settled)."""
    model: Any = _ROWS[queue]
    actions: list[Action] = [getattr(model, name).remove() if value is None else getattr(model, name).set(value)
                             for name, value in values.items()]
    if leave_due:
        actions.append(model.due.remove())
    if expires_at is not None:
        actions.append(model.expires_at.set(datetime.fromtimestamp(expires_at, tz=UTC)))
    _key_row(queue, item_id).update(actions=actions)
