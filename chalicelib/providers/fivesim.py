"""Partner adapter for upstreams that speak the 5sim REST protocol (protocols.md §2)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from chalicelib.config import PartnerSettings
from chalicelib.domain.catalog_data import countries
from chalicelib.domain.clock import Clock, SystemClock, iso
from chalicelib.domain.partner_codes import PRODUCTS, country_word, service_for_product
from chalicelib.providers.base import (
    PartnerActivationState,
    PartnerNoNumbers,
    PartnerNumber,
    PartnerOffer,
    PartnerRejected,
    PartnerSms,
    PartnerStatus,
    PartnerUnavailable,
)
from chalicelib.providers.circuit import CircuitBreaker
from chalicelib.providers.transport import (
    HttpPolicy,
    PartnerHttp,
    PartnerLink,
    PartnerReply,
    balance_to_minor,
    cost_to_minor,
    garbage,
    minor_to_major,
    to_decimal,
)

# Our service codes and country ids are SMS-Activate's; 5sim names products and countries in words (one table for
# every partner and for our own 5sim routes: domain/partner_codes.py).
DEFAULT_PRODUCTS: dict[str, str] = dict(PRODUCTS)
DEFAULT_COUNTRIES: dict[int, str] = {c.id: country_word(c.id) for c in countries()}

_STATUSES = {
    "PENDING": PartnerStatus.WAITING, "RECEIVED": PartnerStatus.RECEIVED, "FINISHED": PartnerStatus.FINISHED,
    "CANCELED": PartnerStatus.CANCELED, "TIMEOUT": PartnerStatus.CANCELED, "BANNED": PartnerStatus.CANCELED,
}
_ACTIVE = ("PENDING", "RECEIVED")

# Plain-text error bodies, compared lower-case.
_NO_NUMBERS = {"no free phones"}
_UNAVAILABLE = {"not enough user balance", "not enough rating", "server offline"}
_REJECTED = {"bad country", "bad operator", "no product", "order not found", "order has sms", "order no sms",
             "order expired", "hosting order",
             # user/reuse: the number cannot be had again for the product
             "reuse not possible", "reuse false", "reuse expired"}


def from_settings(partner: PartnerSettings, link: PartnerLink) -> FiveSimPartner:
    """The adapter for one configured partner of this protocol (providers/registry.py calls it)."""
    return FiveSimPartner(partner.name, partner.base_url, partner.api_key, partner.currency,
                          breaker=link.breaker, policy=link.policy, clock=link.clock)


class FiveSimPartner:
    """Rents numbers from a 5sim-protocol partner.

    5sim has no call for "my active orders": the poller pages through `/user/orders` newest first and stops
    at the first page whose oldest order has expired (older ones have too), so a poll costs one call per
    page of recent orders rather than one per activation. 5sim also has no "another SMS" call: every SMS
    sent to the number while the order is open lands in it, and `sms` lists them all.
    """

    def __init__(self, name: str, base_url: str, api_key: str, currency: str = "RUB",
                 breaker: CircuitBreaker | None = None, *,
                 products: Mapping[str, str] = DEFAULT_PRODUCTS, countries: Mapping[int, str] = DEFAULT_COUNTRIES,
                 policy: HttpPolicy = HttpPolicy(), sleep: Callable[[float], None] = time.sleep,
                 clock: Clock | None = None, orders_page_size: int = 100, max_order_pages: int = 10) -> None:
        self.name = name
        self.currency = currency
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._products, self._countries = dict(products), dict(countries)
        self._services_by_product = {product: service for service, product in products.items()}
        self._country_ids = {country_name: country for country, country_name in countries.items()}
        self._http = PartnerHttp(name, breaker or CircuitBreaker(name=name), policy, sleep)
        self._clock = clock or SystemClock()
        self._page_size, self._max_pages = orders_page_size, max_order_pages

    @property
    def breaker(self) -> CircuitBreaker:
        """This process's circuit for the partner (shown by `bin/admin partners`)."""
        return self._http.breaker

    def get_offers(self) -> list[PartnerOffer]:
        """Every product 5sim prices, in the countries we know: a product our table lacks is sold under its word
        (as code and as name)."""
        prices = self._read("/guest/prices", _object)
        return [PartnerOffer(service=service, country=self._country_ids[country_name],
                             operator=operator, cost_minor=cost_to_minor(to_decimal(entry["cost"])),
                             currency=self.currency, count=int(entry["count"]),
                             service_name=None if product in self._services_by_product else product)
                for country_name, products in prices.items() if country_name in self._country_ids
                for product, operators in products.items() if (service := self._service_of(product))
                for operator, entry in operators.items()]

    def _service_of(self, product: str) -> str | None:
        return self._services_by_product.get(product) or service_for_product(product)

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        if country not in self._countries:
            raise PartnerRejected(f"{self.name}: does not sell {service} in country {country}")
        product = self._products.get(service, service)
        path = f"/user/buy/activation/{self._countries[country]}/{quote(operator or 'any')}/{quote(product)}"
        params = {} if max_cost_minor is None else {"maxPrice": minor_to_major(max_cost_minor)}
        number = self._send(path, _parse_number, params)
        # 5sim cannot exclude numbers, and ignores maxPrice for a named operator: refuse what we asked not to get.
        if number.phone in exclude_phones or (max_cost_minor is not None and (number.cost_minor or 0) > max_cost_minor):
            self._give_back(number.partner_activation_id)
            raise PartnerNoNumbers(f"{self.name}: only an excluded or too expensive number was offered")
        return number

    def get_state(self, partner_activation_id: str) -> PartnerActivationState:
        return self._read(f"/user/check/{quote(partner_activation_id)}", _order_state)

    def get_active_states(self) -> list[PartnerActivationState]:
        states: list[PartnerActivationState] = []
        for page in range(self._max_pages):
            params = {"category": "activation", "limit": self._page_size, "offset": page * self._page_size,
                      "order": "id", "reverse": "true"}
            orders = self._read("/user/orders", _orders, params)
            states.extend(_order_state(order) for order in orders if order["status"] in _ACTIVE)
            if len(orders) < self._page_size or _expires_at(orders[-1]) < self._clock.now():
                break
        return states

    def cancel(self, partner_activation_id: str) -> None:
        self._end(partner_activation_id, "cancel", PartnerStatus.CANCELED)

    def finish(self, partner_activation_id: str) -> None:
        self._end(partner_activation_id, "finish", PartnerStatus.FINISHED)

    def request_another_sms(self, partner_activation_id: str) -> None:
        """Nothing to ask: 5sim keeps every SMS the number receives while the order is open."""

    def get_balance_minor(self) -> int:
        return self._read("/user/profile", lambda profile: balance_to_minor(to_decimal(profile["balance"])))

    def reactivation_cost_minor(self, partner_activation_id: str, phone: str, service: str) -> int | None:
        """5sim has no price check for a reuse: the product's listed price applies (None)."""
        if service not in self._products:
            raise PartnerRejected(f"{self.name}: does not sell {service}")
        return None

    def reactivate(self, partner_activation_id: str, phone: str, service: str, max_cost_minor: int) -> PartnerNumber:
        """`GET /user/reuse/{product}/{number}` (the number without its '+'): a new order on the same number."""
        if service not in self._products:
            raise PartnerRejected(f"{self.name}: does not sell {service}")
        number = self._send(f"/user/reuse/{self._products[service]}/{quote(phone)}", _parse_number)
        if number.phone != phone or (number.cost_minor or 0) > max_cost_minor:
            self._give_back(number.partner_activation_id)
            raise PartnerNoNumbers(f"{self.name}: the reuse was another number or above the price")
        return number

    def _give_back(self, partner_activation_id: str) -> None:
        try:
            self.cancel(partner_activation_id)
        except (PartnerRejected, PartnerUnavailable):
            return  # an order left open times out at 5sim without an SMS, and 5sim refunds it

    def _end(self, partner_activation_id: str, verb: str, ended: PartnerStatus) -> None:
        try:
            self._send(f"/user/{verb}/{quote(partner_activation_id)}", _order_state)
        except PartnerRejected:
            # A repeated cancel/finish answers with an error on 5sim: idempotent if it already ended that way.
            if self.get_state(partner_activation_id).status is not ended:
                raise

    def _read(self, path: str, parse: Callable[[Any], Any], params: Mapping[str, Any] | None = None) -> Any:
        return self._http.read(self.base_url + path, self._reply_parser(parse), params=params, headers=self._headers)

    def _send(self, path: str, parse: Callable[[Any], Any], params: Mapping[str, Any] | None = None) -> Any:
        return self._http.send(self.base_url + path, self._reply_parser(parse), params=params, headers=self._headers)

    def _reply_parser(self, parse: Callable[[Any], Any]) -> Callable[[PartnerReply], Any]:
        def parse_reply(response: PartnerReply) -> Any:
            text = response.text.strip()
            self._raise_protocol_error(response.status, text.lower())
            if response.status >= 400:
                raise garbage(self.name, text)
            return parse(json.loads(text, parse_float=Decimal))
        return parse_reply

    def _raise_protocol_error(self, status_code: int, text: str) -> None:
        if status_code == 401:
            raise PartnerRejected(f"{self.name}: bad API key")
        if status_code == 429:
            raise PartnerUnavailable(f"{self.name}: rate limited")
        if text in _NO_NUMBERS:
            raise PartnerNoNumbers(f"{self.name}: {text}")
        if text in _UNAVAILABLE:
            raise PartnerUnavailable(f"{self.name}: {text}")
        if text in _REJECTED:
            raise PartnerRejected(f"{self.name}: {text}")


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _parse_number(order: Any) -> PartnerNumber:
    phone = str(_object(order)["phone"]).lstrip("+")
    if not phone.isdigit():
        raise ValueError("phone is not digits")
    return PartnerNumber(str(order["id"]), phone, cost_to_minor(to_decimal(order["price"])))


def _orders(reply: Any) -> list[dict[str, Any]]:
    orders = _object(reply)["Data"] or []
    if not isinstance(orders, list):
        raise ValueError("Data must be a list")
    return [_object(order) for order in orders]


def _order_state(order: Any) -> PartnerActivationState:
    sms = tuple(PartnerSms(text=str(s["text"]), code=str(s["code"]) if s.get("code") else None,
                           received_at=_iso_or_none(s.get("created_at") or s.get("date")))
                for s in _object(order).get("sms") or [])
    return PartnerActivationState(str(order["id"]), _STATUSES[order["status"]], sms)


def _expires_at(order: Mapping[str, Any]) -> float:
    return _timestamp(order["expires"])


def _timestamp(value: object) -> float:
    """5sim writes ISO-8601 times in UTC, usually with a Z; a time without a zone is UTC too."""
    moment = datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso_or_none(value: object) -> str | None:
    try:
        return iso(_timestamp(value)) if value else None
    except ValueError:
        return None
