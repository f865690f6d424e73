"""Partner adapter for SIM-bank owners speaking the SMSHub agent protocol (protocols.md §3): we act as the hub.

The protocol: we POST JSON `{"action", "key", …}` to the agent's URL. GET_SERVICES says how many numbers the
agent has per country word, operator and service; GET_NUMBER rents one for the `sum` we pay, in `currency`
(ISO 4217 numeric); FINISH_ACTIVATION ends it (3 sold, 4 cancelled, 5 refunded) and is idempotent. An agent
has no status call: it pushes every SMS its number receives (PUSH_SMS, `api/smshub_push.py`) until we finish
the activation, and it never ends an activation by itself.

Prices. GET_SERVICES carries stock only: the hub sets the price. Ours come from the partner's `prices` setting
(minor units of its currency, keyed `"<service>:<country>"`, `"<service>"` or `"*"`, the most specific winning).
That one amount is the offer's cost in our catalog (users pay it converted by `rate_to_base`, plus the markup,
as for any partner) and the `sum` GET_NUMBER offers: the agent earns exactly what we booked as our cost, never
more because a user's max price allows it. A service without a price is neither listed nor bought.

Choices where the protocol is silent or *uncertain*:
- Country words are SMSHub's (its list is on smshub.org; the table below is the common part); service codes
  pass through unchanged, since SMSHub's short names are SMS-Activate's codes, which are ours.
- Requests are plain JSON with `Accept-Encoding: gzip`: the protocol asks for gzip both ways and replies are
  decompressed, but not every agent's HTTP stack reads a compressed request body.
- A `{"status":"ERROR"}` reply is the agent refusing (bad key, unknown service): PartnerRejected, so the order
  moves on without counting against the circuit; a reply outside the protocol is PartnerUnavailable.
- GET_NUMBER must be answered within 3 s: its read timeout is capped there, and it is never retried (a retried
  purchase may rent a second number). FINISH_ACTIVATION is idempotent by protocol, so it is retried like a read.
- Status 5 (refunded after a sale) is never sent: no activation is refunded once its SMS came (the refund
  policy), and one ended without an SMS is cancelled (4).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from chalicelib.config import PartnerSettings
from chalicelib.domain.catalog_data import countries
from chalicelib.domain.money import currency_numeric, major_decimal
from chalicelib.domain.partner_codes import country_word
from chalicelib.providers.base import (
    PartnerActivationState,
    PartnerNoNumbers,
    PartnerNumber,
    PartnerOffer,
    PartnerRejected,
    PartnerStatus,
)
from chalicelib.providers.circuit import CircuitBreaker
from chalicelib.providers.transport import HttpPolicy, PartnerHttp, PartnerLink, PartnerReply, garbage

T = TypeVar("T")

GET_NUMBER_DEADLINE_SECONDS = 3.0  # the protocol fails an agent slower than this: we stop waiting there too

# Our country ids (SMS-Activate's) → SMSHub's country words, which are 5sim's (domain/partner_codes.py);
# another table can be handed to the adapter.
DEFAULT_COUNTRIES: dict[int, str] = {c.id: country_word(c.id) for c in countries()}
# Appendix 6: the currencies an agent is paid in.
AGENT_CURRENCIES = ("RUB", "USD")

_SOLD, _CANCELLED = 3, 4  # FINISH_ACTIVATION statuses (Appendix 4)
_HEADERS = {"Content-Type": "application/json", "User-Agent": "sms-rooms-hub/1", "Accept-Encoding": "gzip"}


def from_settings(partner: PartnerSettings, link: PartnerLink) -> SmsHubAgentPartner:
    """The adapter for one configured partner of this protocol (providers/registry.py calls it)."""
    return SmsHubAgentPartner(partner.name, partner.base_url, partner.api_key, partner.currency,
                              dict(partner.prices), breaker=link.breaker, policy=link.policy)


class SmsHubAgentPartner:
    """Rents numbers from a SIM-bank owner's agent server; its SMS reach us only by push."""

    def __init__(self, name: str, url: str, api_key: str, currency: str = "USD",
                 prices: Mapping[str, int] | None = None, breaker: CircuitBreaker | None = None, *,
                 policy: HttpPolicy = HttpPolicy(), sleep: Callable[[float], None] = time.sleep,
                 countries: Mapping[int, str] = DEFAULT_COUNTRIES) -> None:
        if currency not in AGENT_CURRENCIES:
            raise ValueError(f"partner {name!r}: an agent is paid in one of {list(AGENT_CURRENCIES)}, not {currency}")
        self.name = name
        self.currency = currency
        self.url = url
        self._api_key = api_key
        self._prices = dict(prices or {})
        self._countries = dict(countries)
        self._country_ids = {word: country for country, word in countries.items()}
        shared_breaker = breaker or CircuitBreaker(name=name)
        self._http = PartnerHttp(name, shared_breaker, policy, sleep, post_body=_json_bytes)
        buying = policy._replace(read_timeout_seconds=min(policy.read_timeout_seconds, GET_NUMBER_DEADLINE_SECONDS))
        self._buy_http = PartnerHttp(name, shared_breaker, buying, sleep, post_body=_json_bytes)

    @property
    def breaker(self) -> CircuitBreaker:
        """This process's circuit for the partner (shown by `bin/admin partners`)."""
        return self._http.breaker

    def price_minor(self, service: str, country: int) -> int | None:
        """What we pay the agent for a number, in its currency's minor units; None when we don't buy it."""
        for key in (f"{service}:{country}", service, "*"):
            if key in self._prices:
                return self._prices[key]
        return None

    def get_offers(self) -> list[PartnerOffer]:
        offers: list[PartnerOffer] = self._http.read(self.url, self._reply_parser(self._offers),
                                                     params=self._body("GET_SERVICES"), headers=_HEADERS)
        return offers

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        country_word, cost = self._countries.get(country), self.price_minor(service, country)
        if country_word is None or cost is None:
            raise PartnerRejected(f"{self.name}: we buy no {service} numbers in country {country} from this agent")
        if max_cost_minor is not None and cost > max_cost_minor:
            raise PartnerNoNumbers(f"{self.name}: we pay {cost}, above the {max_cost_minor} allowed")
        fields: dict[str, Any] = {"country": country_word, "operator": operator or "any", "service": service,
                                  "sum": major_decimal(cost), "currency": currency_numeric(self.currency)}
        if exclude_phones:
            fields["exceptionPhoneSet"] = list(exclude_phones)  # prefixes; a whole number is its own prefix
        activation_id, phone = self._buy_http.send(self.url, self._reply_parser(_parse_number),
                                                   params=self._body("GET_NUMBER", **fields), headers=_HEADERS)
        return PartnerNumber(partner_activation_id=activation_id, phone=phone, cost_minor=cost)

    def get_state(self, partner_activation_id: str) -> PartnerActivationState:
        """Nothing new, without a call: an agent has no status call, and its SMS come by push."""
        return PartnerActivationState(partner_activation_id, PartnerStatus.WAITING)

    def get_active_states(self) -> list[PartnerActivationState]:
        """Nothing to poll: the poller gets an empty list and moves on without touching this agent."""
        return []

    def cancel(self, partner_activation_id: str) -> None:
        self._finish_activation(partner_activation_id, _CANCELLED)

    def finish(self, partner_activation_id: str) -> None:
        self._finish_activation(partner_activation_id, _SOLD)

    def request_another_sms(self, partner_activation_id: str) -> None:
        """Nothing to ask: the agent pushes every SMS the number receives until we finish the activation."""

    def get_balance_minor(self) -> int:
        """We keep no money at an agent (the hub pays per sold number): 0, once GET_SERVICES proves it answers."""
        self.get_offers()
        return 0

    def _finish_activation(self, partner_activation_id: str, status: int) -> None:
        if not partner_activation_id.isdigit():
            raise PartnerRejected(f"{self.name}: {partner_activation_id!r} is not an agent's activation id")
        body = self._body("FINISH_ACTIVATION", activationId=int(partner_activation_id), status=status)
        self._http.read(self.url, self._reply_parser(lambda reply: None), params=body, headers=_HEADERS)

    def _offers(self, reply: dict[str, Any]) -> list[PartnerOffer]:
        offers: list[PartnerOffer] = []
        for entry in reply["countryList"]:
            country = self._country_ids.get(str(_object(entry)["country"]))
            if country is None:
                continue
            for operator, services in _object(entry["operatorMap"]).items():
                for service, count in _object(services).items():
                    cost = self.price_minor(service, country)
                    if cost is not None:
                        offers.append(PartnerOffer(service=service, country=country, operator=operator,
                                                   cost_minor=cost, currency=self.currency, count=_whole(count)))
        return offers

    def _body(self, action: str, **fields: Any) -> dict[str, Any]:
        return {"action": action, "key": self._api_key, **fields}

    def _reply_parser(self, parse: Callable[[dict[str, Any]], T]) -> Callable[[PartnerReply], T]:
        def parse_reply(response: PartnerReply) -> T:
            text = response.text.lstrip("\ufeff").strip()
            reply = _object(json.loads(text, parse_float=Decimal))
            status = reply.get("status")
            if status == "NO_NUMBERS":
                raise PartnerNoNumbers(f"{self.name}: NO_NUMBERS")
            if status == "ERROR":
                raise PartnerRejected(f"{self.name}: {str(reply.get('error') or 'ERROR')[:200]}")
            if status != "SUCCESS" or response.status >= 400:
                raise garbage(self.name, text)
            return parse(reply)
        return parse_reply


def json_text(body: Mapping[str, Any]) -> str:
    """The body as a JSON object, a Decimal written as the exact number it is (json.dumps knows only floats)."""
    return "{" + ",".join(f"{json.dumps(key)}:{_json_value(value)}" for key, value in body.items()) + "}"


def _json_bytes(body: Mapping[str, Any]) -> bytes:
    return json_text(body).encode()


def _json_value(value: Any) -> str:
    return str(value) if isinstance(value, Decimal) else json.dumps(value)


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _whole(value: object) -> int:
    """A protocol integer (Ulong): a JSON number; a string of digits is tolerated."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"not a whole number: {value!r}")


def _parse_number(reply: dict[str, Any]) -> tuple[str, str]:
    """GET_NUMBER's activationId and number (digits with the country code), as our strings."""
    return str(_whole(reply["activationId"])), str(_whole(reply["number"]))
