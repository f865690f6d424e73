"""The SMS-Activate handler protocol (protocols.md §1) as we speak it: request parsing, reply formats, error strings.

Pure translation, no I/O and no Chalice, so every byte is unit-testable. The Chalice route in handler_api.py
feeds it requests and service results.

What real client libraries taught us beyond the protocol table (each decided a detail below; the
libraries are pinned in requirements-dev.txt and driven by tests/compat/):
- smsactivate 1.5 (SMS-Activate's own module) slices `ACCESS_BALANCE:` (15 characters) and `ACCESS_NUMBER:`
  (14) off the reply, splits the rest on ':' and calls int() on the id AND the phone; it recognises an error
  only when the WHOLE reply equals a known string, so `BANNED:<date>` or any unknown word is silently
  parsed as a balance or a number. Every error we send is therefore one of its whole strings, except the
  rate-limit `BANNED:<until>`, which the protocol defines with a suffix.
- smsactivate cannot read `NO_ACTIVATIONS` (it json.loads getActiveActivations' reply and crashes); the
  protocol's string is kept, as aiosmsactivate and herosms expect it.
- smsactivate reads `requests.Response.text`, and requests decodes a text/* reply without a charset as
  ISO-8859-1: plain-text replies say `charset=utf-8` or a Cyrillic SMS comes out garbled.
- grizzly-sms-client 0.1.1 parses JSON only when the Content-Type contains "json": JSON replies must be
  served as application/json or its getNumberV2/getPrices fail. It sends an extra `ref_id` parameter
  (unknown parameters are ignored), knows `BAD_COUNTRY` but not `WRONG_COUNTRY_ID`, and turns any HTTP
  status >= 400 into an error before reading the body.
- aiosmsactivate 1.5.1 always POSTs with every parameter in the query string and an empty body, which aiohttp
  labels application/octet-stream (Chalice answers 415 unless the route accepts it). It calls
  raise_for_status() before reading, so protocol errors come with HTTP 200, as SMS-Activate sends them
  (maintenance and the rate limit alone add a 503/429: every client must stop there anyway). It splits
  errors on ':' and knows
  `BANNED`, `ACCOUNT_INACTIVE`, `EARLY_CANCEL_DENIED`, `WRONG_MAX_PRICE`, `NO_ACTIVATIONS` but neither
  country error. Its pydantic models reject an integer where a string is declared: getNumberV2
  `countryCode` is a string, `activationId` an integer, `canGetAnotherSms` a boolean; getStatusV2
  `sms.code`, `sms.text`, `sms.dateTime` are strings (never null inside a present `sms`). setStatus must
  answer exactly one of the four ACCESS_* strings (it looks the reply up in a dict). It reads
  getTopCountriesByService by country id (`data[country]["retail_price"]`, `["freePriceMap"]`), so that
  reply is keyed by country id, not by rank.
- getOperators answers `{"status":"success","countryOperators":{"<country>":["mts",…]}}` (smsactivate and
  aiosmsactivate json.loads it; both know OPERATORS_NOT_FOUND, which comes as
  `{"status":"error","error":"OPERATORS_NOT_FOUND"}`, so a json.loads client never meets plain text). The
  operators are those our partners name: an SMS-Activate-protocol partner's own getOperators, a 5sim or agent
  offer's operator. A partner that names none (a clone without getOperators) adds none, and any operator a
  client names for it is passed on as before; an operator that no partner offering the pair can have is
  WRONG_OPERATOR before any debit.
- getServicesList answers `{"status":"success","services":[{"code","name"}]}` (grizzly-sms-client's
  parse_services reads exactly this; aiosmsactivate's get_service_name too). `country` narrows it to the
  services on sale there; `lang` is accepted and ignored: our names are one language (a deviation).
- getTopCountriesByService without `service` (*uncertain*: the documentation says "every service" without
  showing it) answers `{"<service>":{"<country>":{row}}}`: each service's own reply, keyed by its code. The rows
  carry SMS-Activate's field set only: `price` and `retail_price` are both our retail price (cost + markup or
  the operator's override, major units as getPrices), there being one price per offer. Each row adds `rate`
  (5sim's name for it in guest/prices): the percentage of our numbers for the service and country that received
  a code in the last 24 hours, absent before any outcome (domain/delivery_rates.py; read from counters, no scan).
- Extra activations (SMS-Activate's "virtual number reactivation"): getExtraActivation answers
  `ACCESS_NUMBER:<new id>:<number>` like getNumber; checkExtraActivation answers
  `{"status":"success","cost":…,"service":…,"phone":<number>,"country":…}` with our price (the partner's with our
  markup). Both take `activationId`, and `id` too (aiosmsactivate 1.5.1 sends getExtraActivation's as `id`). A
  parent that is not the caller's or does not exist is WRONG_ACTIVATION_ID; a number that never got a code, was
  reported, is past its partner's window or whose partner sells no reactivation is RENEW_ACTIVATION_NOT_AVAILABLE
  (nothing charged); a partner failing after the debit is NEW_ACTIVATION_IMPOSSIBLE (refunded at once).
- getMultiServiceNumber (`multiService=vk,ok,wa`, `country`, `operator`; `multiForward`/`forward` with a 1 is
  NO_NUMBERS: no call forwarding) answers `[{"phone":"<number>","activation":<id>,"service":"vk"},…]`: SMS-Activate's
  documentation swaps the two in its prose, its official Java client reads `activation` as the id and `phone` as the
  number, and so do we (the id a JSON number, as the Java client's BigDecimal and Python's json take it). Every
  service is its own activation and charge, debited together or not at all; a service the partner did not fill is
  refunded at once and left out of the list. getCountries keeps `multiService: 0` (*a deviation*: whether a country
  has a partner selling such numbers is known only by asking; getMultiServiceNumber answers NO_NUMBERS where none).
- herosms 0.1.1 (read, not driven: its errors come from HTTP statuses only) declares getActiveActivations
  `activationStatus` and `canGetAnotherSms` as strings and `smsCode` as a string, so those fields are strings
  there, as SMS-Activate's PHP writes them.
"""
from __future__ import annotations

import enum
import json
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from chalicelib.api.fields import digits
from chalicelib.domain import errors as e
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.clock import protocol_time
from chalicelib.domain.delivery_rates import Tally
from chalicelib.domain.money import format_major, parse_major

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
MAX_BODY_BYTES = 64 * 1024

BAD_KEY = "BAD_KEY"
BAD_ACTION = "BAD_ACTION"
BAD_SERVICE = "BAD_SERVICE"
BAD_STATUS = "BAD_STATUS"
# protocols.md lists WRONG_COUNTRY_ID with BAD_COUNTRY as a clone's variant; of the clients we read, only
# grizzly-sms-client recognises either, and it knows BAD_COUNTRY: the client wins.
BAD_COUNTRY = "BAD_COUNTRY"
WRONG_OPERATOR = "WRONG_OPERATOR"
NO_NUMBERS = "NO_NUMBERS"
NO_BALANCE = "NO_BALANCE"
NO_ACTIVATION = "NO_ACTIVATION"
NO_ACTIVATIONS = "NO_ACTIVATIONS"
WRONG_ACTIVATION_ID = "WRONG_ACTIVATION_ID"
WRONG_MAX_PRICE = "WRONG_MAX_PRICE"
EARLY_CANCEL_DENIED = "EARLY_CANCEL_DENIED"
ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
RENEW_ACTIVATION_NOT_AVAILABLE = "RENEW_ACTIVATION_NOT_AVAILABLE"  # extra activation: not for this number
NEW_ACTIVATION_IMPOSSIBLE = "NEW_ACTIVATION_IMPOSSIBLE"  # extra activation: the partner failed it (refunded)
OPERATORS_NOT_FOUND = "OPERATORS_NOT_FOUND"  # getOperators' error, inside its JSON envelope
ERROR_SQL = "ERROR_SQL"  # SMS-Activate's "a parameter is invalid / something went wrong": never carries details

MAINTENANCE_RETRY_AFTER_SECONDS = 300
MAX_MULTI_SERVICE_CHARS = 200


@dataclass(frozen=True)
class Reply:
    body: str
    content_type: str = TEXT
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


class ProtocolError(Exception):
    """A request the protocol refuses before any service is asked; `reply` is the exact error string."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class Major:
    """An amount of cents written as a JSON number in major units (`1250` → `12.5`) without passing through float."""

    cents: int

    def json(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, frac = divmod(abs(self.cents), 100)
        # The shortest form a float repr would print (12.5, 10.0, 0.05), which is what PHP and Python clients emit.
        digits = f"{frac:02d}".rstrip("0") or "0"
        return f"{sign}{whole}.{digits}"


def dumps(value: object) -> str:
    """Compact JSON (no spaces, ASCII-escaped, as PHP's json_encode writes it) that renders Major amounts exactly."""
    if isinstance(value, Major):
        return value.json()
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def text(body: str) -> Reply:
    return Reply(body)


def as_json(value: object) -> Reply:
    return Reply(dumps(value), JSON)


# ---- requests -------------------------------------------------------------------------------------------


def request_params(query: Mapping[str, str] | None, content_type: str, body: bytes) -> dict[str, str]:
    """Parameters from the query string and a form body; the body wins on a clash, as PHP's $_REQUEST does."""
    params = dict(query or {})
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(ERROR_SQL)
    params.update(_body_params(content_type, body))
    return params


def _body_params(content_type: str, body: bytes) -> dict[str, str]:
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body or kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    if kind == "multipart/form-data":
        return _multipart_params(content_type, body)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _multipart_params(content_type: str, body: bytes) -> dict[str, str]:
    from email.parser import BytesParser  # here, not at import: few clients post multipart (STYLE.md)
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise ProtocolError(ERROR_SQL)
    params: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            params[name] = payload.decode("utf-8", "replace")
    return params


class SetStatus(enum.Enum):
    READY = "ACCESS_READY"  # 1: the user says the SMS was sent; acknowledged, changes nothing
    RETRY = "ACCESS_RETRY_GET"  # 3: wait for another SMS (free)
    FINISH = "ACCESS_ACTIVATION"  # 6: done
    CANCEL = "ACCESS_CANCEL"  # 8, and the legacy -1


_SET_STATUS_CODES = {"1": SetStatus.READY, "3": SetStatus.RETRY, "6": SetStatus.FINISH, "8": SetStatus.CANCEL,
                     "-1": SetStatus.CANCEL}


def set_status_command(params: Mapping[str, str]) -> SetStatus:
    command = _SET_STATUS_CODES.get(params.get("status", "").strip())
    if command is None:
        raise ProtocolError(BAD_STATUS)
    return command


def activation_id(params: Mapping[str, str]) -> int:
    """The `id` parameter: a positive integer, or WRONG_ACTIVATION_ID; a number longer than any id we issue is
    well-formed but names no activation: NO_ACTIVATION."""
    raw = params.get("id", "").strip()
    if not raw.isascii() or not raw.isdigit():
        raise ProtocolError(WRONG_ACTIVATION_ID)
    value = digits(raw)
    if value is None:
        raise ProtocolError(NO_ACTIVATION)
    if value < 1:
        raise ProtocolError(WRONG_ACTIVATION_ID)
    return value


def parent_activation_id(params: Mapping[str, str]) -> int:
    """getExtraActivation / checkExtraActivation's `activationId` (aiosmsactivate sends it as `id`); an id that
    names nothing is WRONG_ACTIVATION_ID, the documentation's "incorrect parental activation ID"."""
    raw = params.get("activationId", "").strip() or params.get("id", "").strip()
    try:
        return activation_id({"id": raw})
    except ProtocolError:
        raise ProtocolError(WRONG_ACTIVATION_ID) from None


def multi_service_codes(params: Mapping[str, str], known: Container[str]) -> tuple[str, ...]:
    """getMultiServiceNumber's `multiService`: service codes separated by commas (`vk,ok,wa`), each known and
    named once; anything else is BAD_SERVICE. How many one number may serve is the service's rule."""
    raw = params.get("multiService", "")
    if len(raw) > MAX_MULTI_SERVICE_CHARS:
        raise ProtocolError(BAD_SERVICE)
    codes = tuple(code.strip() for code in raw.split(","))
    if any(code not in known for code in codes) or len(set(codes)) != len(codes):
        raise ProtocolError(BAD_SERVICE)
    return codes


def service_code(params: Mapping[str, str], known: Container[str]) -> str:
    code = params.get("service", "").strip()
    if code not in known:
        raise ProtocolError(BAD_SERVICE)
    return code


def optional_service_code(params: Mapping[str, str], known: Container[str]) -> str | None:
    return service_code(params, known) if params.get("service", "").strip() else None


def country_id(params: Mapping[str, str], known: Container[int]) -> int:
    """The `country` parameter; absent means 0 (Russia), as SMS-Activate defaults to it."""
    country = digits(params.get("country", "").strip() or "0", max_digits=4)
    if country is None or country not in known:
        raise ProtocolError(BAD_COUNTRY)
    return country


def optional_country_id(params: Mapping[str, str], known: Container[int]) -> int | None:
    return country_id(params, known) if params.get("country", "").strip() else None


def operator_name(params: Mapping[str, str]) -> str | None:
    """The `operator` parameter; empty or `any` means no preference. Several operators (a,b) keep the first."""
    raw = params.get("operator", "").split(",", 1)[0].strip().lower()
    return None if raw in ("", "any") else raw


def max_price_cents(params: Mapping[str, str]) -> int | None:
    """`maxPrice` in major units (`0.5`); not a plain amount → ERROR_SQL, SMS-Activate's invalid-parameter reply."""
    raw = params.get("maxPrice", "").strip()
    if not raw:
        return None
    try:
        cents = parse_major(raw)
    except e.InvalidInput:
        raise ProtocolError(ERROR_SQL) from None
    if cents <= 0:
        raise ProtocolError(ERROR_SQL)
    return cents


def phone_exceptions(params: Mapping[str, str]) -> tuple[str, ...]:
    """`phoneException`: comma-separated number prefixes the user does not want (digits only, `+` dropped)."""
    prefixes = (p.strip().lstrip("+") for p in params.get("phoneException", "").split(","))
    return tuple(p for p in prefixes if p.isascii() and p.isdigit())


def for_operator(offers: Iterable[OfferView], operator: str | None) -> list[OfferView]:
    """Offers that can serve `operator` (None: any); a partner selling "any" operator serves every one."""
    return [o for o in offers if operator is None or o.operator in (operator, "any")]


def wants_forwarding(params: Mapping[str, str]) -> bool:
    """`forward=1`, or a 1 in getMultiServiceNumber's `multiForward` (`0,1,0`): call forwarding (not sold)."""
    forwards = params.get("multiForward", "").split(",")
    return params.get("forward", "").strip() not in ("", "0") or any(f.strip() not in ("", "0") for f in forwards)


def is_true(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in ("1", "true")


# ---- what the services give us, in the protocol's terms ---------------------------------------------------


@dataclass(frozen=True)
class SmsView:
    text: str
    code: str | None
    received_at: float


@dataclass(frozen=True)
class ActivationView:
    id: int
    service: str
    country: int
    operator: str
    phone: str
    status: ActivationStatus
    price_cents: int
    created_at: float
    expires_at: float
    sms: Sequence[SmsView] = field(default_factory=tuple)

    @property
    def last_sms(self) -> SmsView | None:
        return self.sms[-1] if self.sms else None


@dataclass(frozen=True)
class OfferView:
    service: str
    country: int
    operator: str
    price_cents: int
    available: int
    day: Tally = field(default_factory=Tally)  # the last 24 hours' outcomes


@dataclass(frozen=True)
class CountryView:
    id: int
    eng: str
    rus: str
    chn: str


# Ended without the user getting what they paid for, or taken back: getStatus says STATUS_CANCEL.
_CANCELED = frozenset({ActivationStatus.CANCELED, ActivationStatus.TIMEOUT, ActivationStatus.BANNED,
                       ActivationStatus.REVOKED, ActivationStatus.FAILED})

# getActiveActivations `activationStatus`: sources disagree on the codes (*uncertain*); we write what our
# partner simulator writes: "1" waiting for the first SMS, "2" SMS received, "3" another SMS asked for.
_ACTIVE_STATUS_CODES = {ActivationStatus.WAITING: "1", ActivationStatus.RECEIVED: "2", ActivationStatus.RETRY: "3"}


# ---- replies --------------------------------------------------------------------------------------------


def balance_reply(available_cents: int) -> Reply:
    return text(f"ACCESS_BALANCE:{format_major(available_cents)}")


def numbers_status_reply(service_codes: Iterable[str], offers: Iterable[OfferView]) -> Reply:
    """`{"tg_0":158,…}` for every service we know (0 when out of stock), so a client indexing a key finds it.

    Only the `_0` (no forwarding) keys: we do not sell call forwarding.
    """
    counts = dict.fromkeys(service_codes, 0)
    for offer in offers:
        if offer.service in counts:
            counts[offer.service] += max(offer.available, 0)
    return as_json({f"{code}_0": count for code, count in counts.items()})


def countries_reply(countries: Iterable[CountryView]) -> Reply:
    # retry 1: another SMS is free everywhere; rent 0 and multiService 0: we sell neither.
    return as_json({str(c.id): {"id": c.id, "rus": c.rus, "eng": c.eng, "chn": c.chn, "visible": 1, "retry": 1,
                                "rent": 0, "multiService": 0} for c in countries})


def prices_reply(offers: Iterable[OfferView]) -> Reply:
    """`{"<country>":{"<service>":{"cost":12.5,"count":340}}}`: per pair, the cheapest price in stock and all stock."""
    table: dict[str, dict[str, dict[str, object]]] = {}
    for (country, service), group in _by_pair(offers).items():
        table.setdefault(str(country), {})[service] = {"cost": Major(_best_price(group)),
                                                       "count": _stock(group)}
    return as_json(table)


def top_countries_reply(offers: Iterable[OfferView], *, free_price: bool) -> Reply:
    """Countries selling one service, most stock first, keyed by country id (see the aiosmsactivate note above)."""
    return as_json(_top_countries(offers, free_price=free_price))


def top_countries_by_service_reply(service_codes: Iterable[str], offers: Iterable[OfferView], *,
                                   free_price: bool) -> Reply:
    """No service asked: every service on sale, each with its own top-countries object (the note above)."""
    by_service: dict[str, list[OfferView]] = {}
    for offer in offers:
        by_service.setdefault(offer.service, []).append(offer)
    return as_json({code: _top_countries(by_service[code], free_price=free_price)
                    for code in service_codes if code in by_service})


def operators_reply(operators: Mapping[int, Sequence[str]]) -> Reply:
    if not any(operators.values()):
        return as_json({"status": "error", "error": OPERATORS_NOT_FOUND})
    return as_json({"status": "success",
                    "countryOperators": {str(country): list(names) for country, names in operators.items() if names}})


def services_list_reply(services: Iterable[tuple[str, str]]) -> Reply:
    return as_json({"status": "success", "services": [{"code": code, "name": name} for code, name in services]})


def _top_countries(offers: Iterable[OfferView], *, free_price: bool) -> dict[str, dict[str, object]]:
    by_country: dict[int, list[OfferView]] = {}
    for offer in offers:
        by_country.setdefault(offer.country, []).append(offer)
    ranked = sorted(by_country.items(), key=lambda item: (-_stock(item[1]), _best_price(item[1]), item[0]))
    table: dict[str, dict[str, object]] = {}
    for country, group in ranked:
        # We have one price per offer: the retail price is the price.
        row: dict[str, object] = {"country": country, "count": _stock(group), "price": Major(_best_price(group)),
                                  "retail_price": Major(_best_price(group))}
        day = sum((o.day for o in group), Tally())
        if day.percent is not None:
            row["rate"] = day.percent
        if free_price:
            row["freePriceMap"] = _free_price_map(group)
        table[str(country)] = row
    return table


def number_reply(activation: ActivationView) -> Reply:
    return text(f"ACCESS_NUMBER:{activation.id}:{_digits(activation.phone)}")


def number_v2_reply(activation: ActivationView, *, currency_numeric: int, phone_code: str) -> Reply:
    return as_json({
        "activationId": activation.id,
        "phoneNumber": _digits(activation.phone),
        "activationCost": Major(activation.price_cents),
        "currency": currency_numeric,
        "countryCode": str(activation.country),
        "countryPhoneCode": int(phone_code),
        "canGetAnotherSms": True,
        "activationTime": protocol_time(activation.created_at),
        "activationEndTime": protocol_time(activation.expires_at),
        "activationOperator": activation.operator or "any",
    })


def multi_service_reply(activations: Iterable[ActivationView]) -> Reply:
    """`[{"phone":"7…","activation":123,"service":"vk"},…]`, one row per service that got the number (the official
    Java client reads `activation` as the id and `phone` as the number); none at all is NO_NUMBERS (refunded)."""
    rows = [{"phone": _digits(a.phone), "activation": a.id, "service": a.service} for a in activations if a.phone]
    return as_json(rows) if rows else text(NO_NUMBERS)


def extra_activation_price_reply(parent: ActivationView, price_cents: int) -> Reply:
    """checkExtraActivation: `{"status":"success","cost":0.45,"service":"tg","phone":79…,"country":0}` (the
    documentation writes the phone as a JSON number)."""
    return as_json({"status": "success", "cost": Major(price_cents), "service": parent.service,
                    "phone": int(_digits(parent.phone) or "0"), "country": parent.country})


def set_status_reply(command: SetStatus) -> Reply:
    return text(command.value)


def status_reply(activation: ActivationView) -> Reply:
    last = activation.last_sms
    if activation.status in _CANCELED:
        return text("STATUS_CANCEL")
    if activation.status is ActivationStatus.RETRY and last is not None:
        return text(f"STATUS_WAIT_RETRY:{_code_of(last)}")
    if last is None:
        return text("STATUS_WAIT_CODE")
    return text(f"STATUS_OK:{_code_of(last)}")


def status_v2_reply(activation: ActivationView) -> Reply:
    if activation.status in _CANCELED:
        return text("STATUS_CANCEL")
    last = activation.last_sms
    sms = None if last is None else {"dateTime": protocol_time(last.received_at), "code": last.code or "",
                                     "text": last.text}
    return as_json({"verificationType": 1, "sms": sms, "call": None})


def full_sms_reply(activation: ActivationView) -> Reply:
    if activation.status in _CANCELED:
        return text("STATUS_CANCEL")
    last = activation.last_sms
    if last is None:
        return text("STATUS_WAIT_CODE")
    return text(f"FULL_SMS:{last.text.rstrip()}")


def active_activations_reply(activations: Iterable[ActivationView]) -> Reply:
    # A PENDING activation has no number yet: nothing a client could use, so it is not listed.
    rows = [_active_row(a) for a in activations if a.status in _ACTIVE_STATUS_CODES and a.phone]
    if not rows:
        return text(NO_ACTIVATIONS)
    return as_json({"status": "success", "activeActivations": rows})


def _active_row(a: ActivationView) -> dict[str, object]:
    last = a.last_sms
    return {
        "activationId": a.id,
        "serviceCode": a.service,
        "phoneNumber": _digits(a.phone),
        "activationCost": Major(a.price_cents),
        "activationStatus": _ACTIVE_STATUS_CODES[a.status],
        "smsCode": None if last is None else _code_of(last),
        "smsText": None if last is None else last.text,
        "activationTime": protocol_time(a.created_at),
        "countryCode": str(a.country),
        "canGetAnotherSms": "1",
    }


# ---- errors: the one table from domain errors to protocol strings ---------------------------------------

# Most specific first: the first class the error is an instance of decides the reply.
# - Blocked, locked, deactivated and unverified accounts all answer ACCOUNT_INACTIVE, not BANNED:<until>:
#   an admin block has no end date, BANNED:<until> means a temporary ban to SMS-Activate clients, and
#   smsactivate recognises ACCOUNT_INACTIVE as an error but misreads `BANNED:<date>` as data.
# - A restricted account (negative balance after a dispute) answers NO_BALANCE: topping up lifts it.
# - An illegal move (cancel after the code, finish before it, anything on an ended activation) is
#   BAD_STATUS: the status cannot be set now.
# - Running out of partners while ordering is NO_NUMBERS (the order comes back FAILED, see handler_api);
#   an operator no partner has for the pair is InvalidInput(field operator): WRONG_OPERATOR, nothing debited;
#   a partner refusing "another SMS" (PartnerError) is ERROR_SQL: try again, as for any outage.
# - A key without the scope the action needs (a `read` key ordering) is BAD_KEY: the protocol has no "not allowed"
#   string, and clients read BAD_KEY as "this key cannot do that" (ACCOUNT_INACTIVE would send its owner looking
#   for a block that is not there).
_ERRORS: list[tuple[type[e.DomainError], str]] = [
    (e.Unauthenticated, BAD_KEY),
    (e.ScopeMissing, BAD_KEY),
    (e.AccountRestricted, NO_BALANCE),
    (e.Forbidden, ACCOUNT_INACTIVE),
    (e.InsufficientBalance, NO_BALANCE),
    (e.NotFound, NO_ACTIVATION),
    (e.EarlyCancelDenied, EARLY_CANCEL_DENIED),
    (e.ReactivationUnavailable, RENEW_ACTIVATION_NOT_AVAILABLE),
    (e.Conflict, BAD_STATUS),
    (e.NoNumbers, NO_NUMBERS),
]

# InvalidInput names the offending field in details["field"]; the protocol has a string for some fields.
_INVALID_FIELDS = {"service": BAD_SERVICE, "country": BAD_COUNTRY, "operator": WRONG_OPERATOR,
                   "status": BAD_STATUS, "id": WRONG_ACTIVATION_ID}


def error_reply(error: e.DomainError, now: float) -> Reply:
    """The protocol's answer to a domain error; anything unforeseen is ERROR_SQL, never a message or a trace."""
    if isinstance(error, e.Maintenance):
        return maintenance_reply()
    if isinstance(error, e.RateLimited):
        return rate_limited_reply(error.retry_after_seconds, now)
    if isinstance(error, e.PriceAboveMax):
        return text(_wrong_max_price(error))
    if isinstance(error, e.InvalidInput):
        return text(_INVALID_FIELDS.get(str(error.details.get("field", "")), ERROR_SQL))
    for cls, reply in _ERRORS:
        if isinstance(error, cls):
            return text(reply)
    return text(ERROR_SQL)


def maintenance_reply() -> Reply:
    """Maintenance (agreement 5.2): ERROR_SQL, the one "try later" string all three clients treat as an error,
    with HTTP 503 and Retry-After so HTTP-aware tooling backs off; the operator's message goes to REST users."""
    return Reply(ERROR_SQL, status=503, headers=(("Retry-After", str(MAINTENANCE_RETRY_AFTER_SECONDS)),))


def rate_limited_reply(retry_after_seconds: int, now: float) -> Reply:
    """Too many requests: SMS-Activate's temporary ban, `BANNED:<until>` (UTC), with HTTP 429 and Retry-After."""
    until = protocol_time(now + retry_after_seconds)
    return Reply(f"BANNED:{until}", status=429, headers=(("Retry-After", str(retry_after_seconds)),))


def _wrong_max_price(error: e.DomainError) -> str:
    minimum = error.details.get("min_price_cents", error.details.get("price_cents"))
    if isinstance(minimum, int) and not isinstance(minimum, bool):
        return f"{WRONG_MAX_PRICE}:{format_major(minimum)}"
    return WRONG_MAX_PRICE


# ---- helpers --------------------------------------------------------------------------------------------


def _digits(phone: str) -> str:
    """Clients int() the phone: digits only, never a '+' or a space."""
    return "".join(ch for ch in phone if ch.isascii() and ch.isdigit())


def _code_of(sms: SmsView) -> str:
    """The code, or the whole text on one line when no code could be extracted (clients read after the ':')."""
    return sms.code or " ".join(sms.text.split())


def _by_pair(offers: Iterable[OfferView]) -> dict[tuple[int, str], list[OfferView]]:
    pairs: dict[tuple[int, str], list[OfferView]] = {}
    for offer in offers:
        pairs.setdefault((offer.country, offer.service), []).append(offer)
    return pairs


def _stock(offers: Sequence[OfferView]) -> int:
    return sum(max(o.available, 0) for o in offers)


def _best_price(offers: Sequence[OfferView]) -> int:
    """The cheapest price with stock: what getNumber would charge now (the cheapest overall when none is left)."""
    in_stock = [o.price_cents for o in offers if o.available > 0]
    return min(in_stock or [o.price_cents for o in offers])


def _free_price_map(offers: Sequence[OfferView]) -> dict[str, int]:
    counts: dict[int, int] = {}
    for offer in offers:
        if offer.available > 0:
            counts[offer.price_cents] = counts.get(offer.price_cents, 0) + offer.available
    return {format_major(price): count for price, count in sorted(counts.items())}
