"""Activations (numbers rented for one service), numbers users reported as unusable, and the user-webhook outbox."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.base import table
from chalicelib.store.ledger import Counter

# The `active_key` of an activation still acquiring a number; an issued one carries its partner's name.
PENDING_KEY = "~pending"
_ID_COUNTER = "activation_id"


class SmsMessage(MapAttribute[str, Any]):
    text = UnicodeAttribute()
    code = UnicodeAttribute(null=True)
    received_at = NumberAttribute()  # when we first saw it
    source = UnicodeAttribute()  # how it reached us: push | on_demand | poll


class ActivationsByAccount(GlobalSecondaryIndex["Activation"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    activation_id = NumberAttribute(range_key=True)  # ids grow with time: newest first is descending id


class ActiveActivations(GlobalSecondaryIndex["Activation"]):
    """Sparse: only activations that can still change carry `active_key` (their partner, or PENDING_KEY)."""

    class Meta:
        index_name = "active"
        projection = AllProjection()

    active_key = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute(range_key=True)


class ActivationsByPartnerRef(GlobalSecondaryIndex["Activation"]):
    """`<partner>#<partner activation id>` → our activation: how a partner's push finds its activation."""

    class Meta:
        index_name = "by_partner_ref"
        projection = KeysOnlyProjection()

    partner_ref = UnicodeAttribute(hash_key=True)


@table("activations")
class Activation(Model):
    class Meta:
        table_name = "activations"

    activation_id = NumberAttribute(hash_key=True)  # positive integer: SMS-Activate clients int() it
    account_id = UnicodeAttribute()
    service = UnicodeAttribute()
    country = NumberAttribute()
    operator = UnicodeAttribute(default="any")
    status = UnicodeAttribute()  # domain.activation_state.ActivationStatus value
    price_cents = NumberAttribute()  # what the user was charged
    cost_cents = NumberAttribute(null=True)  # what the winning partner charges us, in our cents
    phone = UnicodeAttribute(null=True)
    partner = UnicodeAttribute(null=True)
    partner_activation_id = UnicodeAttribute(null=True)
    partner_ref = UnicodeAttribute(null=True)
    active_key = UnicodeAttribute(null=True)
    sms = ListAttribute(of=SmsMessage, default=list)
    has_sms = BooleanAttribute(default=False)
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    last_checked_at = NumberAttribute(null=True)  # last on-demand question to the partner (its rate limit)
    idempotency_key = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)  # bumped by every state change: the compare-and-set guard
    by_account = ActivationsByAccount()
    active = ActiveActivations()
    by_partner_ref = ActivationsByPartnerRef()


def next_activation_id() -> int:
    """The next activation id from an atomic counter (1, 2, 3…), never reused."""
    counter = Counter(_ID_COUNTER)
    counter.update(actions=[Counter.value.add(1)])
    return int(counter.value)


def partner_ref(partner: str, partner_activation_id: str) -> str:
    return f"{partner}#{partner_activation_id}"


def load(activation_id: int) -> Activation | None:
    try:
        return Activation.get(activation_id, consistent_read=True)
    except Activation.DoesNotExist:
        return None


def find_by_partner_ref(partner: str, partner_activation_id: str) -> Activation | None:
    for key in Activation.by_partner_ref.query(partner_ref(partner, partner_activation_id), limit=1):
        return load(int(key.activation_id))
    return None


def for_account(account_id: str, limit: int) -> list[Activation]:
    return list(Activation.by_account.query(account_id, scan_index_forward=False, limit=limit))


def active_with(active_key: str) -> Iterator[Activation]:
    """Activations that can still change, of one partner (or PENDING_KEY)."""
    return Activation.active.query(active_key)


def overdue(now: float) -> Iterator[Activation]:
    """Every activation still open past its lifetime, whichever partner (even one no longer configured).

    A scan of the sparse index reads only open activations, so its cost follows the live set, not history.
    """
    return Activation.active.scan(filter_condition=Activation.expires_at < now)


def change_actions(activation: Activation, changes: Mapping[str, Any]) -> list[Action]:
    """Update actions that set (or, for None, remove) each changed attribute and bump the version."""
    attributes = Activation.get_attributes()
    actions: list[Action] = [Activation.version.set(int(activation.version) + 1)]
    for name, value in changes.items():
        attribute = attributes[name]
        actions.append(attribute.remove() if value is None else attribute.set(value))  # type: ignore[attr-defined]
    return actions


@table("bad_numbers")
class BadNumber(Model):
    """A number the user reported as unusable for a service (ban): never offered to them again for it."""

    class Meta:
        table_name = "bad_numbers"

    owner = UnicodeAttribute(hash_key=True)  # "<account id>#<service>"
    phone = UnicodeAttribute(range_key=True)
    activation_id = NumberAttribute()
    created_at = NumberAttribute()


def bad_number_owner(account_id: str, service: str) -> str:
    return f"{account_id}#{service}"


class DueDeliveries(GlobalSecondaryIndex["WebhookDelivery"]):
    """Sparse: only deliveries still to be attempted carry `due`."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    due = UnicodeAttribute(hash_key=True)
    next_attempt_at = NumberAttribute(range_key=True)


@table("webhook_deliveries")
class WebhookDelivery(Model):
    """One signed event for a user's webhook, kept until it is delivered or given up (the outbox)."""

    class Meta:
        table_name = "webhook_deliveries"

    delivery_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    url = UnicodeAttribute()
    body = UnicodeAttribute()  # the exact JSON that is signed and sent
    status = UnicodeAttribute(default="pending")  # pending | delivered | failed
    attempts = NumberAttribute(default=0)
    next_attempt_at = NumberAttribute()
    due = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # set once settled, so the outbox does not grow forever
    due_deliveries = DueDeliveries()


class DuePartnerCalls(GlobalSecondaryIndex["PartnerCall"]):
    """Sparse: only calls still to be made carry `due`."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    due = UnicodeAttribute(hash_key=True)
    next_attempt_at = NumberAttribute(range_key=True)


@table("partner_calls")
class PartnerCall(Model):
    """A finish or cancel a partner could not take when it was made, kept until it is made or given up."""

    class Meta:
        table_name = "partner_calls"

    call_id = UnicodeAttribute(hash_key=True)  # partner#partner_activation_id#action: one per activation and action
    partner = UnicodeAttribute()
    partner_activation_id = UnicodeAttribute()
    action = UnicodeAttribute()  # services.partner_calls.PartnerAction value
    status = UnicodeAttribute(default="pending")  # pending | done | failed
    attempts = NumberAttribute(default=1)  # the first, failed, call counts
    next_attempt_at = NumberAttribute()
    due = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # set once settled
    due_calls = DuePartnerCalls()
