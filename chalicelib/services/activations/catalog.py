"""The price list: partners' offers cached by a job, our prices (cost + markup, or an admin override), quotes.

Nothing here calls a partner on a request path: `refresh_prices` (a scheduled job) asks each partner
once for its whole price list; listings and quotes read the cache. Offers of partners that are no
longer configured are ignored, so removing a partner from the settings takes it out of sale at once.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from chalicelib.config import Settings
from chalicelib.domain.catalog_data import country_by_id, service_by_code, services
from chalicelib.domain.clock import Clock
from chalicelib.domain.delivery_rates import Rates, combined
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.money import apply_markup, convert_minor
from chalicelib.domain.partner_codes import clean_service_code, clean_service_name
from chalicelib.observability import logger
from chalicelib.providers.base import Partner, PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.services.activations.delivery_memory import DeliveryMemory, PairRates
from chalicelib.services.activations.price_settings import MARKUP_KEY, price_overrides
from chalicelib.services.platform import runtime_settings
from chalicelib.store import catalog as offer_store
from chalicelib.store.catalog import Offer

# Listings and quotes read the offers at most this often per container: the job refreshes them every few
# minutes, so a quote is as current as the stock it could show, and an order costs no catalog query.
_LISTING_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Quote:
    """One partner's offer for a request, with what we would charge for it."""

    partner: str
    operator: str
    cost_minor: int  # partner's currency: the most we let the partner charge
    cost_cents: int
    price_cents: int
    count: int
    rates: Rates = field(default_factory=Rates)  # this partner's deliveries (its operator, or every one)


@dataclass(frozen=True)
class CatalogItem:
    service: str
    country: int
    operator: str
    price_cents: int
    available: int
    operators: tuple[str, ...] = ()  # an "any" item: the operators its partners can be asked for (may be none)
    rates: Rates = field(default_factory=Rates)  # deliveries of the partners selling it


class Catalog:
    def __init__(self, settings: Settings, partners: Sequence[Partner], clock: Clock, memory: DeliveryMemory) -> None:
        self.settings = settings
        self.partners = list(partners)
        self.clock = clock
        self.memory = memory
        self._rank = {p.name: i for i, p in enumerate(self.partners)}  # registry order: preferred first
        self._rates = {p.name: p.rate_to_base for p in settings.partners}
        self._listing: tuple[float, list[Offer]] | None = None
        self._offers: dict[str, tuple[float, list[Offer]]] = {}

    def rate(self, partner: str) -> Decimal:
        """Multiply the partner's minor units by this to get ours (1 for a partner in our currency)."""
        return self._rates.get(partner, Decimal(1))

    def refresh_prices(self) -> dict[str, int]:
        """Cache every partner's offers (one price-list call each); a failing partner keeps its last list."""
        refreshed: dict[str, int] = {}
        for partner in self.partners:
            try:
                offers = partner.get_offers()
            except (PartnerUnavailable, PartnerRejected, PartnerNoNumbers) as exc:
                logger.warning("price refresh failed", extra={"partner": partner.name, "error": str(exc)})
                continue
            now = self.clock.now()
            rate = self.rate(partner.name)
            rows = [Offer(offer_store.offer_key(code, o.country), f"{partner.name}#{o.operator}",
                                 service=code, country=o.country, partner=partner.name, operator=o.operator,
                                 cost_minor=o.cost_minor, currency=o.currency,
                                 cost_cents=convert_minor(o.cost_minor, rate), available=o.count, refreshed_at=now,
                                 operators=tuple(o.operators) or None, service_name=clean_service_name(o.service_name))
                    for o in offers if (code := clean_service_code(o.service)) and country_by_id(o.country)]
            offer_store.replace_partner_offers(partner.name, rows)
            refreshed[partner.name] = len(rows)
        self._listing, self._offers = None, {}
        return refreshed

    def quote(self, service: str, country: int, operator: str | None) -> list[Quote]:
        """Offers in stock that can serve the request, cheapest for us to sell first.

        From the container's cache of the offers; when that shows nothing in stock they are read again before
        an order is refused (stock may be back since). An operator no partner offering the pair has (in stock or
        not) is InvalidInput WRONG_OPERATOR: refused before any debit, where NO_NUMBERS would be untrue."""
        key = offer_store.offer_key(service, country)
        hit = self._offers.get(key)
        if hit is not None and time.monotonic() - hit[0] < _LISTING_CACHE_SECONDS:
            quotes = self._quotes(hit[1], key, operator)
            if quotes:
                return quotes
        offers = offer_store.offers_for(service, country)
        self._offers[key] = (time.monotonic(), offers)
        quotes = self._quotes(offers, key, operator)
        if not quotes and operator not in (None, "any"):
            sold = [o for o in offers if o.partner in self._rank]
            if sold and not any(_has_operator(o, operator) for o in sold):
                raise InvalidInput(f"No partner has operator {operator!r} for this service and country; "
                                   "GET /v1/catalog lists each offer's operator.", code="WRONG_OPERATOR",
                                   details={"field": "operator"})
        return quotes

    def _quotes(self, offers: list[Offer], key: str, operator: str | None) -> list[Quote]:
        """In stock, from partners whose recent success rate has not collapsed, cheapest first."""
        override = price_overrides().get(key)
        markup = self.markup_percent()
        serving = [o for o in offers if self._serves(o, operator)]
        rates = self.memory.rates(serving[0].service, serving[0].country) if serving else {}
        quotes = [self._quote(o, override, markup, operator, rates) for o in serving]
        quotes = [q for q in quotes if not self.memory.policy.collapsed(q.rates)]
        return sorted(quotes, key=lambda q: (q.price_cents, q.cost_cents, self._rank[q.partner]))

    def route(self, quotes: Sequence[Quote], price_cents: int) -> list[Quote]:
        """The offers to ask, in order, for an order charged `price_cents` (the first quote's price): the first
        quote and those that cost us no more than that (a failover never sells at a loss), the best recent success
        rate first, then the cheapest."""
        affordable = [q for i, q in enumerate(quotes) if i == 0 or q.cost_cents <= price_cents]
        policy = self.memory.policy
        return sorted(affordable, key=lambda q: (policy.preference(q.rates), q.cost_cents, self._rank[q.partner]))

    def items(self, service: str | None = None, country: int | None = None) -> list[CatalogItem]:
        """The public price list, one item per (service, country, operator), from the cache."""
        offers, overrides = self._cached_offers(), price_overrides()
        markup = self.markup_percent()
        all_rates = self.memory.all_rates()
        grouped: dict[tuple[str, int, str], list[Quote]] = {}
        listed: dict[tuple[str, int, str], set[str]] = {}
        for offer in offers:
            if self._listable(offer) and service in (None, offer.service) and country in (None, offer.country):
                key = (offer.service, offer.country, offer.operator)
                override = overrides.get(offer.offer_key)
                quote = self._quote(offer, override, markup, None, all_rates.get(offer.offer_key, {}))
                if self.memory.policy.collapsed(quote.rates):
                    continue  # not offered while its recent deliveries fail (see `quote`)
                grouped.setdefault(key, []).append(quote)
                listed.setdefault(key, set()).update(offer.operators or ())
        return [_item(key, quotes, listed[key]) for key, quotes in sorted(grouped.items())]

    def operators(self, country: int | None = None) -> dict[int, list[str]]:
        """Per country, the operators some configured partner names (an offer's own, or an "any" offer's list)."""
        found: dict[int, set[str]] = {}
        for offer in self._cached_offers():
            if self._listable(offer) and country in (None, offer.country):
                names = {offer.operator} - {"any"} | set(offer.operators or ())
                found.setdefault(offer.country, set()).update(names)
        return {c: sorted(names) for c, names in sorted(found.items()) if names}

    def service_names(self) -> dict[str, str]:
        """Every service we list or sell, code → name: our curated list first (its names win), then each code a
        configured partner sells under the partner's name (or the code when it gives none)."""
        names = {s.code: s.name for s in services()}
        for offer in sorted(self._cached_offers(), key=lambda o: (o.service_name or o.service).casefold()):
            if offer.partner in self._rank and offer.service not in names:
                names[offer.service] = offer.service_name or offer.service
        return names

    def sells_service(self, code: str) -> bool:
        """A curated service, or one some configured partner lists."""
        return service_by_code(code) is not None or code in self.service_names()

    def markup_percent(self) -> Decimal:
        return Decimal(str(runtime_settings.get_value(MARKUP_KEY, str(self.settings.markup_percent))))

    def priced_cost(self, partner: str, cost_minor: int) -> tuple[int, int]:
        """(our cost, our price) in cents for something a partner quotes directly (a reactivation): its price
        converted at the partner's rate, plus the markup; price overrides are per (service, country) listing."""
        cost_cents = convert_minor(cost_minor, self.rate(partner))
        return cost_cents, apply_markup(cost_cents, self.markup_percent())

    def listed_cost_minor(self, partner: str, service: str, country: int, operator: str) -> int | None:
        """The partner's listed cost of (service, country) for `operator` (or its "any" offer); None if unlisted."""
        offers = [o for o in offer_store.offers_for(service, country) if o.partner == partner]
        exact = [o for o in offers if o.operator == operator] or [o for o in offers if o.operator == "any"]
        return min((o.cost_minor for o in exact), default=None)

    def _serves(self, offer: Offer, operator: str | None) -> bool:
        if offer.partner not in self._rank or offer.available <= 0:
            return False
        return operator in (None, "any") or _has_operator(offer, operator)

    def _quote(self, offer: Offer, override: int | None, markup: Decimal, operator: str | None,
               rates: PairRates) -> Quote:
        cost_cents = offer.cost_cents
        price = override if override is not None else apply_markup(cost_cents, markup)
        # A partner that sells "any" operator is asked for the one the user wants.
        ask_for = offer.operator if offer.operator != "any" else (operator or "any")
        return Quote(partner=offer.partner, operator=ask_for, cost_minor=offer.cost_minor,
                     cost_cents=cost_cents, price_cents=price, count=offer.available,
                     rates=combined(rates, [offer.partner], ask_for))

    def _listable(self, offer: Offer) -> bool:
        """A configured partner's offer for a country we know (its service code was checked when it was cached)."""
        return offer.partner in self._rank and country_by_id(offer.country) is not None

    def _cached_offers(self) -> list[Offer]:
        now = time.monotonic()
        if self._listing is None or now - self._listing[0] >= _LISTING_CACHE_SECONDS:
            self._listing = (now, offer_store.all_offers())
        return self._listing[1]


def _has_operator(offer: Offer, operator: str) -> bool:
    """The offer is that operator's, or an "any" offer whose partner lists it (or lists none: it may have it)."""
    if offer.operator != "any":
        return offer.operator == operator
    return not offer.operators or operator in offer.operators


def _item(key: tuple[str, int, str], quotes: list[Quote], operators: set[str]) -> CatalogItem:
    in_stock = [q.price_cents for q in quotes if q.count > 0]
    return CatalogItem(service=key[0], country=key[1], operator=key[2],
                       price_cents=min(in_stock or [q.price_cents for q in quotes]),
                       available=sum(q.count for q in quotes), operators=tuple(sorted(operators)),
                       rates=sum((q.rates for q in quotes), Rates()))

