"""The activations context's reads and writes, in plain values (domain/activation.py): the rows stay in this layer.

Each function costs the DynamoDB calls its row-level counterpart in store/activations.py costs (a load one GetItem,
a change one conditional UpdateItem, a write that joins another transaction none of its own). A refused write
raises store.base.WriteRefused; PynamoDB's exceptions never leave the store.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields, replace
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_state import BlindMove
from chalicelib.domain.activation_status import ActivationStatus
from chalicelib.store import activations as rows
from chalicelib.store.accounts import Account as AccountRow
from chalicelib.store.activations import PENDING_KEY, BadNumber, SmsMessage, active_key, partner_ref
from chalicelib.store.activations import Activation as ActivationRow
from chalicelib.store.base import JoinedWrite, WriteRefused, joined
from chalicelib.store.transaction import refused_if_condition_failed
from chalicelib.store.values import value_of

__all__ = ["PENDING_KEY", "active_key", "partner_ref"]  # the keys' formats, for the services that set them
_FIELDS = tuple(f.name for f in fields(Activation))


def activation_of(row: ActivationRow) -> Activation:
    """The value of a row (numbers as the domain types them: ints for ids and cents, floats for times); a row from
    before operators were chosen serves any."""
    return value_of(Activation, row, absent={"operator": "any"})


def _stored(name: str, value: Any) -> Any:
    """A field's value as the row holds it."""
    if name == "sms":
        return [SmsMessage(text=m.text, code=m.code, received_at=m.received_at, source=m.source) for m in value]
    if isinstance(value, ActivationStatus):
        return value.value
    return value


def _row(activation: Activation) -> ActivationRow:
    values = {name: _stored(name, getattr(activation, name)) for name in _FIELDS if name != "activation_id"}
    return ActivationRow(activation.activation_id, **values)


def _key_row(activation: Activation) -> ActivationRow:
    """A row with the key and the version only: what an update of it needs (its actions say the rest)."""
    return ActivationRow(activation.activation_id, version=activation.version)


def _values(found: Iterable[ActivationRow]) -> Iterator[Activation]:
    return (activation_of(row) for row in found)


# Reads ----------------------------------------------------------------------------------------------------------
def load(activation_id: int) -> Activation | None:
    row = rows.load(activation_id)
    return None if row is None else activation_of(row)


def find_by_partner_ref(partner: str, partner_activation_id: str) -> Activation | None:
    row = rows.find_by_partner_ref(partner, partner_activation_id)
    return None if row is None else activation_of(row)


def for_account(account_id: str, limit: int) -> list[Activation]:
    """The account's newest activations first (one Query)."""
    return list(_values(rows.for_account(account_id, limit)))


def newest_for_account(account_id: str) -> Iterator[Activation]:
    """Every activation of the account, newest first, read page by page as the caller goes."""
    return _values(ActivationRow.by_account.query(account_id, scan_index_forward=False))


def open_of(owner: str, shards: int) -> Iterator[Activation]:
    """Activations that can still change, of one partner (or PENDING_KEY): one query per shard, in parallel."""
    return _values(rows.active_with(owner, shards))


def open_on_phone(owner: str, shards: int, phone: str) -> list[Activation]:
    """A partner's open activations on one number (the filter is applied by DynamoDB)."""
    return list(_values(rows.active_with(owner, shards, ActivationRow.phone == phone)))


def overdue(now: float) -> Iterator[Activation]:
    """Every activation still open past its lifetime, whichever partner (a scan of the sparse active index)."""
    return _values(rows.overdue(now))


def claim_refresh(account_id: str, activation_id: int, now: float, every_seconds: float
                  ) -> tuple[Activation | None, bool]:
    """store.activations.claim_refresh in values: the user's activation (None: not theirs) and whether to ask."""
    row, due = rows.claim_refresh(account_id, activation_id, now, every_seconds)
    return (None if row is None else activation_of(row)), due


def move_unread(account_id: str, activation_id: int, move: BlindMove) -> Activation | None:
    """store.activations.move_unread in values: the activation after the blind move, None when it did not apply."""
    row = rows.move_unread(account_id, activation_id, move)
    return None if row is None else activation_of(row)


def banned_phones(account_id: str, service: str, limit: int) -> list[str]:
    """The numbers the account reported unusable for the service (one Query)."""
    return [b.phone for b in BadNumber.query(rows.bad_number_owner(account_id, service), limit=limit)]


# Writes ---------------------------------------------------------------------------------------------------------
def create_write(activation: Activation) -> JoinedWrite:
    """A new activation, as an item of the caller's transaction (the order's debit): refused if the id is taken."""
    row = _row(activation)
    return lambda tx: tx.save(row, condition=ActivationRow.activation_id.does_not_exist())


def create_writes(activations: Iterable[Activation]) -> JoinedWrite:
    """Several new activations in the caller's transaction (a batch's debit)."""
    return joined(create_write(a) for a in activations)


def change_write(activation: Activation, changes: Mapping[str, Any]) -> JoinedWrite:
    """Set (None: remove) each changed field and bump the version, if the activation is still at its version, as an
    item of the caller's transaction."""
    row, actions = _key_row(activation), _change_actions(activation, changes)
    return lambda tx: tx.update(row, actions=actions, condition=ActivationRow.version == activation.version)


def change(activation: Activation, changes: Mapping[str, Any]) -> Activation:
    """`change_write` on its own (one UpdateItem); the activation as it left it, or WriteRefused."""
    try:
        _key_row(activation).update(actions=_change_actions(activation, changes),
                                    condition=ActivationRow.version == activation.version)
    except UpdateError as exc:
        refused_if_condition_failed(exc)  # any other error (throttled, unreachable) is raised as it is
        raise WriteRefused(str(exc)) from exc
    return changed(activation, changes)


def changed(activation: Activation, changes: Mapping[str, Any]) -> Activation:
    """The activation as a committed `change_write(activation, changes)` left it, without reading it again."""
    return replace(activation, **changes, version=activation.version + 1)


def record_ban(account_id: str, activation_id: int, service: str, phone: str, now: float) -> None:
    """Remember the user's report of `phone` for `service`: the account's flag first (a crash between the two
    writes costs an order a needless query, never a ban), then the number (two writes)."""
    AccountRow(account_id).update(actions=[AccountRow.has_bad_numbers.set(True)],
                                  condition=AccountRow.account_id.exists())
    BadNumber(rows.bad_number_owner(account_id, service), phone, activation_id=activation_id, created_at=now).save()


def _change_actions(activation: Activation, changes: Mapping[str, Any]) -> list[Any]:
    stored = {name: _stored(name, value) for name, value in changes.items()}
    return rows.change_actions(_key_row(activation), stored)
