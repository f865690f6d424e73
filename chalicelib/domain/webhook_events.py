"""The events a user's webhook can subscribe to, their stable ids, and the words a status change is told in.

Every event belongs to a stream (one activation, the account's balance, one rental) and carries that stream's
sequence number at the change that caused it (an activation's version after the change, the balance's ledger seq):
a receiver orders and deduplicates by (`stream`, `sequence`) or simply by `event_id`, which is the same for every
delivery and redelivery of one event.
"""
from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.ids import sha256_hex


class EventType(enum.StrEnum):
    SMS_RECEIVED = "sms.received"
    ACTIVATION_STATUS_CHANGED = "activation.status_changed"
    BALANCE_CHANGED = "balance.changed"
    RENTAL_SMS_RECEIVED = "rental.sms_received"


# What a webhook saved without a choice gets, and what a webhook saved before the choice existed has: the SMS.
DEFAULT_EVENTS = frozenset({EventType.SMS_RECEIVED, EventType.RENTAL_SMS_RECEIVED})
_NAMES = frozenset(t.value for t in EventType)
_EVENT_ID_CHARS = 24

# The word a status change is told in (`change` in activation.status_changed).
CHANGES: dict[ActivationStatus, str] = {
    ActivationStatus.WAITING: "issued",
    ActivationStatus.RETRY: "retry_requested",
    ActivationStatus.FINISHED: "finished",
    ActivationStatus.CANCELED: "canceled",
    ActivationStatus.TIMEOUT: "timed_out",
    ActivationStatus.BANNED: "banned",
    ActivationStatus.REVOKED: "revoked",
    ActivationStatus.FAILED: "failed",
    ActivationStatus.RECEIVED: "sms_received",
}


@dataclass(frozen=True)
class WebhookEvent:
    """One thing that happened to an account, as its webhook is told: `data` is merged into the JSON body."""

    type: EventType
    stream: str  # "activation:<id>", "balance", "rental:<id>": what `sequence` counts in
    sequence: int
    occurred_at: float
    data: dict[str, object] = field(default_factory=dict)

    def event_id(self, account_id: str) -> str:
        return event_id_of(account_id, self.stream, self.sequence)


def event_id_of(account_id: str, stream: str, sequence: int) -> str:
    """Deterministic (one event per stream and sequence): a retried transaction cannot queue the same event twice,
    redeliveries share it, and the next event of the stream finds the one it must follow without a query."""
    digest = sha256_hex(f"{account_id}|{stream}|{sequence}")
    return f"evt_{digest[:_EVENT_ID_CHARS]}"


BALANCE_STREAM = "balance"


def activation_stream(activation_id: int) -> str:
    return f"activation:{activation_id}"


def parse_event_types(raw: object) -> frozenset[EventType]:
    """The event types named in a list; ValueError (for the caller's 422) on anything else or an empty list."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"must be a non-empty list of event types: {', '.join(sorted(_NAMES))}")
    if len(raw) > len(_NAMES) * 4:
        raise ValueError("names too many event types")
    found: set[EventType] = set()
    for name in raw:
        if not isinstance(name, str) or name not in _NAMES:
            shown = name[:40] if isinstance(name, str) else type(name).__name__
            raise ValueError(f"names an unknown event type {shown!r}; event types are {', '.join(sorted(_NAMES))}")
        found.add(EventType(name))
    return frozenset(found)


def stored_event_types(raw: Iterable[str] | None) -> frozenset[EventType]:
    """An account's subscription as stored; a webhook saved before the choice existed has none and gets SMS only."""
    return frozenset(EventType(s) for s in raw if s in _NAMES) if raw else DEFAULT_EVENTS


class Subscriber(Protocol):
    """What says whether an account takes an event: the account as read (domain.accounts.Account)."""

    @property
    def account_id(self) -> str: ...

    @property
    def webhook_url(self) -> str | None: ...

    @property
    def webhook_events(self) -> Collection[str] | None: ...


def subscribes(account: Subscriber, event_type: EventType) -> bool:
    """Whether the account has a webhook and it takes `event_type`."""
    return bool(account.webhook_url) and event_type in stored_event_types(account.webhook_events)
