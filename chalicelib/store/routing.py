"""What routing learns from deliveries: success counters per time bucket, and numbers marked bad for a service.

Both are written as extra items of the transaction that settles an activation's outcome (an ADD, so
concurrent writers never lose a count), and read per (service, country) by one Query.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.domain.delivery_rates import Bucket, Counted, Tally, buckets_at
from chalicelib.store.base import JoinedWrite, table
from chalicelib.store.catalog import offer_key

# A (service, country) pair is keyed as the catalog keys its offers: one format for both tables.
pair_key = offer_key


@table("delivery_counters")
class DeliveryCounter(Model):
    """Outcomes of one partner's numbers for one (service, country, operator) in one time bucket."""

    class Meta:
        table_name = "delivery_counters"

    pair = UnicodeAttribute(hash_key=True)  # "<service>#<country>"
    slot = UnicodeAttribute(range_key=True)  # "<bucket size>#<bucket index>#<partner>#<operator>#<shard>"
    partner = UnicodeAttribute()
    operator = UnicodeAttribute()
    ended = NumberAttribute(default=0)  # activations whose outcome is known
    received = NumberAttribute(default=0)  # of them, those that received a code
    expires_at = TTLAttribute()


# Each bucket is split over this many items (by activation id): two transactions that touch one item at once
# conflict and one is retried, so a busy pair's endings are spread; readers sum them.
COUNTER_SHARDS = 4


def outcome_write(service: str, country: int, partner: str, operator: str, *, received: bool, now: float,
                  activation_id: int) -> JoinedWrite:
    """Count one outcome in each of its buckets, as items of the caller's transaction."""
    shard = activation_id % COUNTER_SHARDS

    def count(tx: TransactWrite) -> None:
        for bucket in buckets_at(now):
            item = DeliveryCounter(pair_key(service, country),
                                   f"{bucket.size}#{bucket.index}#{partner}#{operator}#{shard}")
            tx.update(item, actions=[DeliveryCounter.ended.add(1), DeliveryCounter.received.add(int(received)),
                                     DeliveryCounter.partner.set(partner), DeliveryCounter.operator.set(operator),
                                     DeliveryCounter.expires_at.set(_at(bucket.expires_at))])

    return count


def counted(service: str, country: int) -> list[Counted]:
    return [_counted(item) for item in DeliveryCounter.query(pair_key(service, country))]


def counted_everywhere() -> dict[str, list[Counted]]:
    """Every pair's counters, by pair key (the price list's view: one scan, cached by the caller)."""
    found: dict[str, list[Counted]] = {}
    for item in DeliveryCounter.scan():
        found.setdefault(item.pair, []).append(_counted(item))
    return found


def _counted(item: DeliveryCounter) -> Counted:
    size, index, _ = item.slot.split("#", 2)
    return Counted(str(item.partner), str(item.operator), Bucket(size, int(index)),
                   Tally(int(item.ended), int(item.received)))


@table("marked_numbers")
class MarkedNumber(Model):
    """A number reported bad for a service (by any user), or that timed out without an SMS: its weight adds up,
    and at the threshold it is never sold again for that service until it expires."""

    class Meta:
        table_name = "marked_numbers"

    pair = UnicodeAttribute(hash_key=True)  # "<service>#<country>"
    phone = UnicodeAttribute(range_key=True)
    weight = NumberAttribute(default=0)
    marked_at = NumberAttribute()  # the latest report
    expires_at = TTLAttribute()


def mark_write(service: str, country: int, phone: str, weight: int, *, now: float, keep_seconds: int) -> JoinedWrite:
    """Weigh a report against the number as an item of the caller's transaction; each report renews its expiry."""
    return lambda tx: tx.update(MarkedNumber(pair_key(service, country), phone),
                                actions=[MarkedNumber.weight.add(weight), MarkedNumber.marked_at.set(now),
                                         MarkedNumber.expires_at.set(_at(now + keep_seconds))])


@dataclass(frozen=True)
class Mark:
    """A number's reports for a service, added up (a MarkedNumber row as a value)."""

    phone: str
    weight: int
    marked_at: float
    expires_at: float  # epoch seconds


def marks(service: str, country: int) -> list[Mark]:
    return [Mark(str(m.phone), int(m.weight), float(m.marked_at), m.expires_at.timestamp())
            for m in MarkedNumber.query(pair_key(service, country))]


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
