"""Rentals (numbers held for hours to weeks) and the SMS each receives, one item per SMS so a rental never outgrows an
item and its SMS list pages by key."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.base import table

# The `active_key` owner of a rental still acquiring a number; an issued one carries its partner's name.
PENDING_KEY = "~pending"
_SHARD_READERS = 8


class PendingExtension(MapAttribute[str, Any]):
    """An extension paid for and not yet confirmed by the partner: while it is here nothing else may change the
    rental (cancel, finish, another extension), so a crash leaves exactly this to settle."""

    number = NumberAttribute()  # n of the charge's cause "<rental id>:<n>"
    hours = NumberAttribute()
    price_cents = NumberAttribute()
    started_at = NumberAttribute()


class RentalsByAccount(GlobalSecondaryIndex["Rental"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    rental_id = NumberAttribute(range_key=True)  # ids grow with time: newest first is descending id


class ActiveRentals(GlobalSecondaryIndex["Rental"]):
    """Sparse: only rentals that can still change carry `active_key` (their partner, or PENDING_KEY, and a shard)."""

    class Meta:
        index_name = "active"
        projection = AllProjection()

    active_key = UnicodeAttribute(hash_key=True)
    ends_at = NumberAttribute(range_key=True)


class RentalsByPartnerRef(GlobalSecondaryIndex["Rental"]):
    """`<partner>#<partner rent id>` → our rental: how a partner's push finds it."""

    class Meta:
        index_name = "by_partner_ref"
        projection = KeysOnlyProjection()

    partner_ref = UnicodeAttribute(hash_key=True)


@table("rentals")
class Rental(Model):
    class Meta:
        table_name = "rentals"

    rental_id = NumberAttribute(hash_key=True)  # domain.ids.new_numeric_id: SMS-Activate clients int() it
    account_id = UnicodeAttribute()
    service = UnicodeAttribute()  # a service code, or domain.rental_state.ANY_SERVICE
    country = NumberAttribute()
    operator = UnicodeAttribute(default="any")
    status = UnicodeAttribute()  # domain.rental_state.RentalStatus value
    hours = NumberAttribute()  # the whole duration bought so far (extensions included)
    paid_cents = NumberAttribute()  # everything charged and kept so far (the rent and confirmed extensions)
    extensions = NumberAttribute(default=0)  # extensions confirmed; the next one's charge cause is n+1
    pending_extension = PendingExtension(null=True)
    cost_cents = NumberAttribute(null=True)  # what the partner charges us for the rent, in our cents
    phone = UnicodeAttribute(null=True)
    partner = UnicodeAttribute(null=True)
    partner_rent_id = UnicodeAttribute(null=True)
    partner_ref = UnicodeAttribute(null=True)
    active_key = UnicodeAttribute(null=True)
    sms_count = NumberAttribute(default=0)
    has_sms = BooleanAttribute(default=False)
    created_at = NumberAttribute()
    ends_at = NumberAttribute()
    last_checked_at = NumberAttribute(null=True)  # last on-demand question to the partner (its rate limit)
    version = NumberAttribute(default=0)  # bumped by every change: the compare-and-set guard
    by_account = RentalsByAccount()
    active = ActiveRentals()
    by_partner_ref = RentalsByPartnerRef()


@table("rental_sms")
class RentalSms(Model):
    """One SMS a rental received, in arrival order; `dedupe` is what makes a repeated push or poll a no-op."""

    class Meta:
        table_name = "rental_sms"

    rental_id = NumberAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)  # 1, 2, 3… per rental, gap-free (the rental's sms_count is the last)
    text = UnicodeAttribute()
    code = UnicodeAttribute(null=True)
    sender = UnicodeAttribute(null=True)
    received_at = NumberAttribute()
    partner_date = UnicodeAttribute(null=True)
    source = UnicodeAttribute()  # push | on_demand | poll


def load(rental_id: int) -> Rental | None:
    try:
        return Rental.get(rental_id, consistent_read=True)
    except Rental.DoesNotExist:
        return None


def for_account(account_id: str, limit: int, before_id: int | None = None) -> list[Rental]:
    condition = Rental.rental_id < before_id if before_id else None
    return list(Rental.by_account.query(account_id, range_key_condition=condition, scan_index_forward=False,
                                        limit=limit))


def sms_page(rental_id: int, *, after_seq: int, limit: int) -> list[RentalSms]:
    return list(RentalSms.query(rental_id, range_key_condition=RentalSms.seq > after_seq, limit=limit,
                                consistent_read=True))


def partner_ref(partner: str, partner_rent_id: str) -> str:
    return f"{partner}#{partner_rent_id}"


def find_by_partner_ref(partner: str, partner_rent_id: str) -> Rental | None:
    for key in Rental.by_partner_ref.query(partner_ref(partner, partner_rent_id), limit=1):
        return load(int(key.rental_id))
    return None


def active_key(owner: str, rental_id: int, shards: int) -> str:
    """The active index's key: the partner (or PENDING_KEY) and a shard, so no partition takes every write."""
    return f"{owner}#{rental_id % shards}"


def active_with(owner: str, shards: int, where: Condition | None = None) -> Iterator[Rental]:
    """Rentals that can still change, of one partner (or PENDING_KEY): one query per shard, in parallel."""
    keys = [f"{owner}#{shard}" for shard in range(shards)]
    with ThreadPoolExecutor(max_workers=min(_SHARD_READERS, len(keys))) as pool:
        for found in pool.map(lambda key: list(Rental.active.query(key, filter_condition=where)), keys):
            yield from found


def overdue(now: float) -> Iterator[Rental]:
    """Every rental still open past its end, whichever partner: a scan of the sparse index reads only open ones."""
    return Rental.active.scan(filter_condition=Rental.ends_at < now)


def change_actions(rental: Rental, changes: Mapping[str, Any]) -> list[Action]:
    """Update actions that set (or, for None, remove) each changed attribute and bump the version."""
    attributes = Rental.get_attributes()
    actions: list[Action] = [Rental.version.set(int(rental.version) + 1)]
    for name, value in changes.items():
        attribute = attributes[name]
        actions.append(attribute.remove() if value is None else attribute.set(value))  # type: ignore[attr-defined]
    return actions


def committed(rental: Rental, changes: Mapping[str, Any]) -> Rental:
    """The rental as the write of `change_actions(rental, changes)` left it, without reading it again."""
    for name, value in changes.items():
        setattr(rental, name, value)
    rental.version = int(rental.version) + 1
    return rental
