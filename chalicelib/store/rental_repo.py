"""The rentals context's reads and writes, in plain values (domain/rental.py): the rows stay in this layer.

Each function costs the DynamoDB calls its row-level counterpart in store/rentals.py costs (a change is one
conditional UpdateItem; a write that joins another transaction none of its own). What a change must find is a
`Guard`; a refused write raises store.base.WriteRefused. PynamoDB's exceptions never leave the store.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib.domain.rental import PendingExtension, Rental, RentalSms
from chalicelib.domain.rental_state import RentalStatus
from chalicelib.store import rentals as rows
from chalicelib.store.base import JoinedWrite, WriteRefused
from chalicelib.store.ledger import Claim
from chalicelib.store.rentals import PENDING_KEY, active_key, partner_ref
from chalicelib.store.rentals import PendingExtension as PendingExtensionMap
from chalicelib.store.rentals import Rental as RentalRow
from chalicelib.store.rentals import RentalSms as RentalSmsRow
from chalicelib.store.transaction import refused_if_condition_failed
from chalicelib.store.values import value_of

__all__ = ["PENDING_KEY", "active_key", "partner_ref"]  # the keys' formats, for the services that set them

_FIELDS = tuple(f.name for f in fields(Rental))


class Guard(enum.Enum):
    """What a change requires of the rental besides its version being the one read."""

    UNCHANGED = "unchanged"  # nothing more
    SETTLED = "settled"  # no extension pending (a move)
    OPEN = "open"  # ACTIVE and no extension pending (an extension begins)
    ACTIVE = "active"  # ACTIVE (an SMS is recorded)


def rental_of(row: RentalRow) -> Rental:
    return value_of(Rental, row, absent={"operator": "any"})


def sms_of(row: RentalSmsRow) -> RentalSms:
    return value_of(RentalSms, row)


def _values(found: Iterable[RentalRow]) -> Iterator[Rental]:
    return (rental_of(row) for row in found)


def _stored(value: Any) -> Any:
    if isinstance(value, PendingExtension):
        return PendingExtensionMap(number=value.number, hours=value.hours, price_cents=value.price_cents,
                                   started_at=value.started_at)
    if isinstance(value, RentalStatus):
        return value.value
    return value


# Reads ----------------------------------------------------------------------------------------------------------
def load(rental_id: int) -> Rental | None:
    row = rows.load(rental_id)
    return None if row is None else rental_of(row)


def find_by_partner_ref(partner: str, partner_rent_id: str) -> Rental | None:
    row = rows.find_by_partner_ref(partner, partner_rent_id)
    return None if row is None else rental_of(row)


def for_account(account_id: str, limit: int, before_id: int | None = None) -> list[Rental]:
    """The account's rentals, newest first, older than `before_id` when given (one Query)."""
    return list(_values(rows.for_account(account_id, limit, before_id)))


def sms_page(rental_id: int, *, after_seq: int, limit: int) -> list[RentalSms]:
    return [sms_of(row) for row in rows.sms_page(rental_id, after_seq=after_seq, limit=limit)]


def open_of(owner: str, shards: int) -> Iterator[Rental]:
    """Rentals that can still change, of one partner (or PENDING_KEY): one query per shard, in parallel."""
    return _values(rows.active_with(owner, shards))


def overdue(now: float) -> Iterator[Rental]:
    """Every rental still open past its end, whichever partner (a scan of the sparse active index)."""
    return _values(rows.overdue(now))


def with_pending_extension() -> Iterator[Rental]:
    """Open rentals with an extension charged and not settled (a scan of the sparse active index)."""
    return _values(RentalRow.active.scan(filter_condition=RentalRow.pending_extension.exists()))


# Writes ---------------------------------------------------------------------------------------------------------
def create_write(rental: Rental) -> JoinedWrite:
    """A new rental, as an item of the caller's transaction (the rent's debit): refused if the id is taken."""
    values = {name: _stored(getattr(rental, name)) for name in _FIELDS if name != "rental_id"}
    row = RentalRow(rental.rental_id, **values)
    return lambda tx: tx.save(row, condition=RentalRow.rental_id.does_not_exist())


def change_write(rental: Rental, changes: Mapping[str, Any], guard: Guard) -> JoinedWrite:
    """Set (None: remove) each changed field and bump the version, under `guard`, in the caller's transaction."""
    row, actions, condition = _key_row(rental), _actions(rental, changes), _condition(rental, guard)
    return lambda tx: tx.update(row, actions=actions, condition=condition)


def change(rental: Rental, changes: Mapping[str, Any], guard: Guard) -> Rental:
    """`change_write` on its own (one UpdateItem); the rental as it left it, or WriteRefused."""
    try:
        _key_row(rental).update(actions=_actions(rental, changes), condition=_condition(rental, guard))
    except UpdateError as exc:
        refused_if_condition_failed(exc)  # any other error (throttled, unreachable) is raised as it is
        raise WriteRefused(str(exc)) from exc
    return changed(rental, changes)


def changed(rental: Rental, changes: Mapping[str, Any]) -> Rental:
    """The rental as a committed change of `changes` left it, without reading it again."""
    return replace(rental, **changes, version=rental.version + 1)


def sms_writes(sms: RentalSms, claim_key: str, kept_until: float) -> list[JoinedWrite]:
    """The SMS's row (refused if its seq is taken) and the claim on its fingerprint (refused if it was recorded)."""
    row = RentalSmsRow(sms.rental_id, sms.seq, text=sms.text, code=sms.code, sender=sms.sender,
                       received_at=sms.received_at, partner_date=sms.partner_date, source=sms.source)
    claim = Claim(claim_key, value=str(sms.seq), created_at=sms.received_at,
                  expires_at=datetime.fromtimestamp(kept_until, tz=UTC))
    return [lambda tx: tx.save(row, condition=RentalSmsRow.seq.does_not_exist()),
            lambda tx: tx.save(claim, condition=Claim.key.does_not_exist())]


def claim_look(rental_id: int, now: float, every_seconds: float) -> bool:
    """Stamp `last_checked_at` when the rental is ACTIVE with a number and was not asked for `every_seconds` (one
    conditional UpdateItem): whether this reader is the one to ask the partner now."""
    due = (RentalRow.status == RentalStatus.ACTIVE.value) & RentalRow.partner_rent_id.exists() & (
        RentalRow.last_checked_at.does_not_exist() | (RentalRow.last_checked_at <= now - every_seconds))
    try:
        RentalRow(rental_id).update(actions=[RentalRow.last_checked_at.set(now)], condition=due)
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def _key_row(rental: Rental) -> RentalRow:
    return RentalRow(rental.rental_id, version=rental.version)


def _actions(rental: Rental, changes: Mapping[str, Any]) -> list[Any]:
    return rows.change_actions(_key_row(rental), {name: _stored(value) for name, value in changes.items()})


def _condition(rental: Rental, guard: Guard) -> Condition:
    unchanged = RentalRow.version == rental.version
    active, settled = RentalRow.status == RentalStatus.ACTIVE.value, RentalRow.pending_extension.does_not_exist()
    if guard is Guard.SETTLED:
        return unchanged & settled
    if guard is Guard.OPEN:
        return unchanged & active & settled
    if guard is Guard.ACTIVE:
        return unchanged & active
    return unchanged
