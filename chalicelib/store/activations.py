"""Activations (numbers rented for one service), numbers users reported as unusable, and the user-webhook outbox."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.constants import ALL_NEW, ALL_OLD
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.domain.activation_state import ActivationStatus, BlindMove, is_final
from chalicelib.store.base import connection, table

# The `active_key` of an activation still acquiring a number; an issued one carries its partner's name.
PENDING_KEY = "~pending"


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

    activation_id = NumberAttribute(hash_key=True)  # domain.ids.new_numeric_id: SMS-Activate clients int() it
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
    reactivation_of = NumberAttribute(null=True)  # the earlier activation whose number this one uses again
    version = NumberAttribute(default=0)  # bumped by every state change: the compare-and-set guard
    # Set at order when the owner's webhook takes activation.status_changed: its status changes queue events (and
    # a finish is never written blind, which could not queue one). hook_seq: the version of the last event queued.
    status_hook = BooleanAttribute(null=True)
    hook_seq = NumberAttribute(null=True)
    balance_hook = BooleanAttribute(null=True)  # the webhook took balance.changed at order: its refund tells it
    by_account = ActivationsByAccount()
    active = ActiveActivations()
    by_partner_ref = ActivationsByPartnerRef()


_SHARD_READERS = 8
_CONDITION_FAILED = "ConditionalCheckFailedException"
_AWAITING_SMS = (ActivationStatus.WAITING.value, ActivationStatus.RETRY.value)


def move_unread(account_id: str, activation_id: int, move: BlindMove) -> Activation | None:
    """Apply a BlindMove to an activation of `account_id` in one conditional UpdateItem (no read first), returning
    the activation after it; None when it does not apply: not theirs, gone, in a status the move does not leave, or
    told to a webhook."""
    applies: Condition = Activation.status.is_in(*(s.value for s in move.sources))
    if move.sources_with_sms:
        applies = applies | (Activation.status.is_in(*(s.value for s in move.sources_with_sms))
                             & (Activation.has_sms == True))  # noqa: E712  (a condition expression, not a test)
    actions: list[Action] = [Activation.status.set(move.target.value), Activation.version.add(1)]
    if is_final(move.target):
        actions.append(Activation.active_key.remove())
    activation = Activation(activation_id)
    # An activation whose status changes are told to a webhook is never moved blind: the event needs the read.
    applies = applies & Activation.status_hook.does_not_exist()
    try:
        activation.update(actions=actions, condition=(Activation.account_id == account_id) & applies)
    except UpdateError as exc:
        if exc.cause_response_code == _CONDITION_FAILED:
            return None
        raise
    return activation


def claim_refresh(account_id: str, activation_id: int, now: float, every_seconds: float
                  ) -> tuple[Activation | None, bool]:
    """A user's status read as one UpdateItem: the activation of `account_id` (None: not theirs, or none), and
    whether this reader should ask the partner now.

    It stamps `last_checked_at` when the activation waits for an SMS and was not asked for `every_seconds`;
    otherwise the condition fails and DynamoDB returns the item as stored (ReturnValuesOnConditionCheckFailure),
    so the reader still pays one call. Whoever moves the stamp asks; concurrent readers get the stored view.
    """
    due = ((Activation.account_id == account_id) & Activation.status.is_in(*_AWAITING_SMS)
           & Activation.partner_activation_id.exists()
           & (Activation.last_checked_at.does_not_exist() | (Activation.last_checked_at <= now - every_seconds)))
    request = Activation(activation_id).get_update_kwargs_from_instance(
        actions=[Activation.last_checked_at.set(now)], condition=due, return_values_on_condition_failure=ALL_OLD)
    try:
        # PynamoDB's update drops the item a failed condition returns: the client is asked directly.
        reply = connection().client.update_item(**request, ReturnValues=ALL_NEW)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
            raise
        item = exc.response.get("Item")
        stored = Activation.from_raw_data(item) if item else None
        return (stored if stored is not None and stored.account_id == account_id else None), False
    return Activation.from_raw_data(reply["Attributes"]), True


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


def active_key(owner: str, activation_id: int, shards: int) -> str:
    """The active index's key of an activation: its partner (or PENDING_KEY) and a shard, so the writes of one
    partner's orders spread over `shards` partitions."""
    return f"{owner}#{activation_id % shards}"


def active_with(owner: str, shards: int, where: Condition | None = None) -> Iterator[Activation]:
    """Activations that can still change, of one partner (or PENDING_KEY), those `where` holds for if given: one
    query per shard, in parallel."""
    # The bare owner: activations written before the key had a shard (none is left a lifetime after the upgrade).
    keys = [owner, *(f"{owner}#{shard}" for shard in range(shards))]
    with ThreadPoolExecutor(max_workers=min(_SHARD_READERS, len(keys))) as pool:
        for found in pool.map(lambda key: list(Activation.active.query(key, filter_condition=where)), keys):
            yield from found


def overdue(now: float) -> Iterator[Activation]:
    """Every activation still open past its lifetime, whichever partner (even one no longer configured).

    A scan of the sparse index reads only open activations, so its cost follows the live set, not history.
    """
    return Activation.active.scan(filter_condition=Activation.expires_at < now)


def committed(activation: Activation, changes: Mapping[str, Any]) -> Activation:
    """The activation as the write of `change_actions(activation, changes)` left it, without reading it again."""
    for name, value in changes.items():
        setattr(activation, name, value)
    activation.version = int(activation.version) + 1
    return activation


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


class DeliveriesByAccount(GlobalSecondaryIndex["WebhookDelivery"]):
    """An account's delivery log, newest first: `log_key` is the creation time (ms) and the delivery id."""

    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    log_key = UnicodeAttribute(range_key=True)


@table("webhook_deliveries")
class WebhookDelivery(Model):
    """One signed event for a user's webhook, kept until it is delivered or given up (the outbox and its log)."""

    class Meta:
        table_name = "webhook_deliveries"

    delivery_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    url = UnicodeAttribute()
    body = UnicodeAttribute()  # the exact JSON that is signed and sent
    status = UnicodeAttribute(default="pending")  # pending | delivered | failed | skipped
    attempts = NumberAttribute(default=0)
    next_attempt_at = NumberAttribute()
    due = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # set once settled, so the outbox does not grow forever
    # Deliveries queued before event types existed carry none of these: they are sms.received, unordered.
    event_id = UnicodeAttribute(null=True)
    event_type = UnicodeAttribute(null=True)
    stream = UnicodeAttribute(null=True)
    sequence = NumberAttribute(null=True)
    after_delivery_id = UnicodeAttribute(null=True)  # the first delivery of the stream's previous event: sent first
    redelivery_of = UnicodeAttribute(null=True)
    last_status_code = NumberAttribute(null=True)
    delivered_at = NumberAttribute(null=True)
    log_key = UnicodeAttribute(null=True)
    due_deliveries = DueDeliveries()
    by_account = DeliveriesByAccount()


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
    action = UnicodeAttribute()  # services.platform.partner_calls.PartnerAction value
    status = UnicodeAttribute(default="pending")  # pending | done | failed
    attempts = NumberAttribute(default=1)  # the first, failed, call counts
    next_attempt_at = NumberAttribute()
    due = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # set once settled
    due_calls = DuePartnerCalls()
