"""The cached price list: each partner's offer per (service, country, operator), refreshed by a job."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.base import table


def offer_key(service: str, country: int) -> str:
    return f"{service}#{country}"


class OffersByPartner(GlobalSecondaryIndex["CatalogOffer"]):
    class Meta:
        index_name = "by_partner"
        projection = KeysOnlyProjection()

    partner = UnicodeAttribute(hash_key=True)


@table("catalog_offers")
class CatalogOffer(Model):
    class Meta:
        table_name = "catalog_offers"

    offer_key = UnicodeAttribute(hash_key=True)  # "<service>#<country>"
    source = UnicodeAttribute(range_key=True)  # "<partner>#<operator>"
    service = UnicodeAttribute()
    country = NumberAttribute()
    partner = UnicodeAttribute()
    operator = UnicodeAttribute()
    cost_minor = NumberAttribute()  # in the partner's currency: what we cap the partner's price at
    currency = UnicodeAttribute()
    cost_cents = NumberAttribute()  # the same cost in our currency, at the configured rate
    available = NumberAttribute()  # numbers in stock at the last refresh
    refreshed_at = NumberAttribute()
    # On an "any" offer: the country's operators the partner can be asked for (absent: it does not say).
    operators = ListAttribute(of=UnicodeAttribute, null=True)
    service_name = UnicodeAttribute(null=True)  # the partner's name for the service, cleaned (domain/partner_codes)
    by_partner = OffersByPartner()


@dataclass(frozen=True)
class Offer:
    """A CatalogOffer row as a value (the same names; numbers as ints)."""

    offer_key: str
    source: str
    service: str
    country: int
    partner: str
    operator: str
    cost_minor: int
    currency: str
    cost_cents: int
    available: int
    refreshed_at: float
    operators: tuple[str, ...] | None = None
    service_name: str | None = None


_OFFER_FIELDS = tuple(f.name for f in fields(Offer))


def _offer(row: CatalogOffer) -> Offer:
    return Offer(offer_key=row.offer_key, source=row.source, service=row.service, country=int(row.country),
                 partner=row.partner, operator=row.operator, cost_minor=int(row.cost_minor), currency=row.currency,
                 cost_cents=int(row.cost_cents), available=int(row.available), refreshed_at=float(row.refreshed_at),
                 operators=None if row.operators is None else tuple(str(name) for name in row.operators),
                 service_name=row.service_name)


def _row(offer: Offer) -> CatalogOffer:
    values = {name: getattr(offer, name) for name in _OFFER_FIELDS[2:]}
    values["operators"] = None if offer.operators is None else list(offer.operators)
    return CatalogOffer(offer.offer_key, offer.source, **values)


def offers_for(service: str, country: int) -> list[Offer]:
    return [_offer(row) for row in CatalogOffer.query(offer_key(service, country))]


def all_offers() -> list[Offer]:
    return [_offer(row) for row in CatalogOffer.scan()]


def replace_partner_offers(partner: str, offers: Iterable[Offer]) -> None:
    """Write a partner's fresh offers and drop the ones it no longer lists."""
    fresh = list(offers)
    keep = {(o.offer_key, o.source) for o in fresh}
    stale = [o for o in CatalogOffer.by_partner.query(partner) if (o.offer_key, o.source) not in keep]
    with CatalogOffer.batch_write() as batch:
        for offer in fresh:
            batch.save(_row(offer))
        for old in stale:
            batch.delete(CatalogOffer(old.offer_key, old.source))
