"""What a rental costs: each renting partner's price for (country, hours), with our markup, cheapest first.

Rent prices depend on the duration, so they are asked of the partners when needed (getRentServicesAndCountries,
one call per partner per country and duration) and kept for a minute in the process: a price list read and the
rent that follows cost one partner call, not two.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.domain.clock import Clock
from chalicelib.domain.money import apply_markup, convert_minor
from chalicelib.observability import logger
from chalicelib.providers.base import Partner, PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.providers.rentals import RentalPartner, RentOffer, rental_partner

PARTNER_ERRORS = (PartnerNoNumbers, PartnerUnavailable, PartnerRejected)
_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class RentQuote:
    partner: str
    service: str
    price_cents: int  # what the user pays
    cost_cents: int  # what the partner charges us, in our cents
    count: int


class RentPricing:
    def __init__(self, partners: Sequence[Partner], rates: Mapping[str, Decimal], clock: Clock,
                 markup: Callable[[], Decimal]) -> None:
        self.renting = [(p.name, r) for p in partners if (r := rental_partner(p)) is not None]
        self.rates = rates
        self.clock = clock
        self.markup = markup
        self._cache: dict[tuple[str, int, int, str | None], tuple[float, list[RentOffer]]] = {}
        self._lock = threading.Lock()

    def quotes(self, service: str, country: int, hours: int, operator: str | None) -> list[RentQuote]:
        """Every renting partner's offer for the service, cheapest first (ties: the configured order)."""
        found = [q for q in self._all(country, hours, operator) if q.service == service and q.count > 0]
        return sorted(found, key=lambda q: q.price_cents)

    def price_list(self, country: int, hours: int, operator: str | None) -> dict[str, RentQuote]:
        """Per service, the cheapest offer, its count being the stock of every partner together."""
        best: dict[str, RentQuote] = {}
        stock: dict[str, int] = {}
        for quote in self._all(country, hours, operator):
            stock[quote.service] = stock.get(quote.service, 0) + quote.count
            if quote.service not in best or quote.price_cents < best[quote.service].price_cents:
                best[quote.service] = quote
        return {s: RentQuote(q.partner, s, q.price_cents, q.cost_cents, stock[s]) for s, q in best.items()}

    def price_of(self, partner: str, cost_minor: int) -> tuple[int, int]:
        """(our price, our cost) in cents of a partner's cost in its minor units."""
        cost = convert_minor(cost_minor, self.rates.get(partner, Decimal(1)))
        return apply_markup(cost, self.markup()), cost

    def partner(self, name: str) -> RentalPartner | None:
        return next((r for n, r in self.renting if n == name), None)

    def _all(self, country: int, hours: int, operator: str | None) -> list[RentQuote]:
        quotes = []
        for name, rentals in self.renting:
            for offer in self._offers(name, rentals, country, hours, operator):
                price, cost = self.price_of(name, offer.cost_minor)
                quotes.append(RentQuote(name, offer.service, price, cost, offer.count))
        return quotes

    def _offers(self, name: str, rentals: RentalPartner, country: int, hours: int, operator: str | None
                ) -> list[RentOffer]:
        key = (name, country, hours, operator)
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        try:
            offers = rentals.offers(country, hours, operator)
        except PARTNER_ERRORS as exc:
            logger.info("partner gave no rent prices", extra={"partner": name, "error": str(exc)})
            return []
        with self._lock:
            self._cache[key] = (now, offers)
        return offers
