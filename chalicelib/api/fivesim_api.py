"""5sim-compatible REST (protocols.md §2) under /5sim/v1: a thin adapter over the same services as REST v1.

A 5sim client works unchanged with its base URL set to `<app>/5sim/v1` (`Authorization: Bearer <our API key>`).
5sim names products and countries in words where we use SMS-Activate's codes and ids; the two tables below
translate. Replies are JSON; errors are 5sim's plain-text bodies, from the one table `_ERRORS`.

What 5sim clients taught us (fivesim 1.2.0 is driven by tests/compat/; PyFiveSim 1.0.4 was read):
- PyFiveSim accepts a reply only when Content-Type is exactly `application/json` (no charset suffix).
- fivesim builds objects with a json object_hook, bottom-up: any object with a `code` key is an SMS and one with
  a `phone` key an order, so an order never carries `code`; `Name`-only objects are names. An order's `country`
  must be one of 5sim's country words or its parser raises, so every country has a 5sim word here.
- Both recognise an error by its text (`no free phones`, `not enough user balance`, `order not found`…) and
  treat 401 as a bad key whatever the body; fivesim also knows `you need to wait time` (early cancel).
- 5sim itself refuses an early cancel with 400 `you need to wait time` (fivesim's CANCEL_NEEDS_TIME, and other
  clients retry on that text), so our early-cancel window answers exactly that. Observed on 5sim: an unknown order
  is 404 `order not found` on `check` but 400 on `cancel`/`finish`/`ban`; we answer the same.

Deviations from 5sim's documented and observed answers that we keep (route: field — ours — why):
| route | field | ours | why |
|---|---|---|---|
| user/profile | id | 48-bit number from our account id | our ids are strings; stable per account |
| user/profile | vendor, default_forwarding_number | "" | we have no vendors and no forwarding |
| user/profile | rating | always 96 | 5sim's: orders open at once (8 new … 96 max); we cap no one |
| user/profile | default_country, default_operator | `any` | we keep no defaults |
| user/profile | last_order, last_top_orders | `country:product:operator:<order id>:<price>` | 4th part undocumented |
|  |  | `""` and `{}` before the first order | (PyFiveSim: `service_id`, an int); ours: order id |
| user/profile | last_top_idx | index of last_order in last_top_orders (0) | undocumented; we list newest first |
| user/profile | is_totp | absent | undocumented; we do not say whether 2FA is on over an API key |
| user/orders | Total | rows up to this page, + `limit` when more exist | a count reads all history; paging by it ends |
| user/orders | ProductNames, Statuses | [] | as 5sim's own example |
| user/orders, payments | offset | at most 10,000 (400 `bad request` past it) | each row before it is read |
| user/orders, check | operator | ours (`any` when none) | — |
| user/orders, check | forwarding, forwarding_number | false, "" | no forwarding |
| user/orders, check | sms[].sender | "" | partners do not tell us |
| user/payments | ID | the entry's per-account sequence number | an integer as 5sim's; unique within the account |
| user/payments | TypeName | our ledger kind (`top_up`, `activation_charge`, …) | 5sim's are its payment systems |
| user/payments | ProviderName | `sms-rooms` | — |
| user/payments | Total | as user/orders | — |
| guest/prices | rate | our last 24 hours' percentage of numbers that received a code; absent before any | — |
| guest/countries | `<operator>` keys | absent | only iso, prefix, text_en, text_ru |
| guest/products | Category | always `activation` | hosting is sold by duration: fivesim_hosting.py |
| user/buy/hosting, its orders | product, status | see fivesim_hosting.py | a hosting order is one of our rentals |
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.fields import digits
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.domain import errors as e
from chalicelib.domain.accounts import Account
from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_state import ActivationStatus, is_final
from chalicelib.domain.catalog_data import countries
from chalicelib.domain.clock import iso
from chalicelib.domain.ids import sha256_hex
from chalicelib.domain.money import format_major, parse_major
from chalicelib.domain.partner_codes import country_for_word, country_word, product_word, service_for_product
from chalicelib.domain.scopes import need_of
from chalicelib.observability import logger

if TYPE_CHECKING:  # these load with the first 5sim request that needs them, not with the app (api/lazy.py)
    from chalicelib.api import fivesim_hosting
    from chalicelib.api import handler_protocol as p
    from chalicelib.services.money import history
    from chalicelib.services.platform import rate_limit, runtime_settings
else:
    fivesim_hosting = lazy_module("chalicelib.api.fivesim_hosting")
    p = lazy_module("chalicelib.api.handler_protocol")  # its money in major units (Major) and JSON writer
    history = lazy_module("chalicelib.services.money.history")
    rate_limit = lazy_module("chalicelib.services.platform.rate_limit")
    runtime_settings = lazy_module("chalicelib.services.platform.runtime_settings")

PREFIX = "/5sim/v1"
MAX_PAGE = 100
MAX_OFFSET = 10_000
RATING = 96
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_TOP_ORDERS = 5  # the distinct (country, product, operator) choices `last_top_orders` lists
_TOP_ORDERS_READ = 20  # how many of the newest orders they are chosen from
_PHONE_MAX_DIGITS = 15  # E.164

bp = Blueprint(__name__)
_http = RestRoutes(bp)  # for the request and the caller's IP; errors are answered in 5sim's words below

# Our statuses in 5sim's: an order with a number is RECEIVED ("number received") until it ends.
_STATUSES = {
    ActivationStatus.PENDING: "PENDING", ActivationStatus.WAITING: "RECEIVED", ActivationStatus.RECEIVED: "RECEIVED",
    ActivationStatus.RETRY: "RECEIVED", ActivationStatus.FINISHED: "FINISHED", ActivationStatus.CANCELED: "CANCELED",
    ActivationStatus.TIMEOUT: "TIMEOUT", ActivationStatus.BANNED: "BANNED", ActivationStatus.REVOKED: "CANCELED",
    ActivationStatus.FAILED: "CANCELED",
}

# Domain errors → (status, 5sim's text), most specific first. A refused cancel or finish is told apart below.
_ERRORS: list[tuple[type[e.DomainError], int, str]] = [
    (e.Unauthenticated, 401, "unauthorized"),
    (e.ScopeMissing, 403, "forbidden: this key's scopes do not allow it"),
    (e.AccountRestricted, 400, "not enough user balance"),
    (e.Forbidden, 403, "account is not active"),
    (e.InsufficientBalance, 400, "not enough user balance"),
    (e.NotFound, 404, "order not found"),
    (e.EarlyCancelDenied, 400, "you need to wait time"),
    (e.ReactivationUnavailable, 400, "reuse not possible"),
    (e.NoNumbers, 400, "no free phones"),
    (e.PriceAboveMax, 400, "no free phones"),
    (e.PartnerError, 503, "server offline"),
    (e.Maintenance, 503, "server offline"),
]
_INVALID_FIELDS = {"service": "no product", "country": "bad country", "operator": "bad operator"}


class PlainTextRefusal(Exception):
    """Answered as 5sim answers: a status and a plain-text line."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


class _Refused(PlainTextRefusal):
    """A refusal of this module's routes (an unknown order in `_move` becomes 5sim's 400)."""


class HostingRefused(PlainTextRefusal):
    """A refusal of a hosting order (fivesim_hosting), defined here so catching it does not load that module."""


def route(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET route under PREFIX whose result is JSON and whose failures are 5sim's plain-text errors."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(**params: Any) -> Response:
            try:
                if runtime_settings.maintenance().on:
                    return _text(503, "server offline", {"Retry-After": "300"})
                return Response(body=p.dumps(view(**params)), headers={"Content-Type": "application/json"})
            except PlainTextRefusal as refusal:
                return _text(refusal.status, refusal.text)
            except e.DomainError as error:
                return _error(error)
            except Exception:
                logger.exception("5sim API call failed")
                return _text(500, "internal error")

        bp.route(PREFIX + path, methods=["GET"])(guarded)
        return view

    return register


# ---- guest ---------------------------------------------------------------------------------------------


@route("/guest/countries")
def guest_countries() -> dict[str, Any]:
    _admit(None)
    return {country_word(c.id): {"iso": {c.iso2.lower(): 1}, "prefix": {f"+{c.phone_code}": 1},
                                  "text_en": c.name_en, "text_ru": c.name_ru} for c in countries()}


@route("/guest/products/{country}/{operator}")
def guest_products(country: str, operator: str) -> dict[str, Any]:
    _admit(None)
    country_id = None if country.lower() == "any" else _country_id(country)
    wanted = _operator(operator)
    qty: dict[str, int] = {}
    price: dict[str, int] = {}
    for item in _items(country=country_id, operator=wanted):
        product = product_word(item.service)
        qty[product] = qty.get(product, 0) + item.available
        price[product] = min(price.get(product, item.price_cents), item.price_cents)
    return {product: {"Category": "activation", "Qty": qty[product], "Price": p.Major(price[product])}
            for product in qty}


@route("/guest/prices")
def guest_prices() -> dict[str, Any]:
    """`{country:{product:{operator:{cost,count,rate}}}}`, or product first when only a product is asked for;
    `rate` (the share of numbers that received a code in the last 24 hours, in percent) only once one is known."""
    _admit(None)
    query = _query()
    country = _country_id(query["country"]) if query.get("country") else None
    service = _service(query["product"]) if query.get("product") else None
    by_product = service is not None and country is None
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for item in _items(service=service, country=country):
        outer, inner = product_word(item.service), country_word(item.country)
        if not by_product:
            outer, inner = inner, outer
        row: dict[str, Any] = {"cost": p.Major(item.price_cents), "count": item.available}
        if item.rates.day.percent is not None:
            row["rate"] = item.rates.day.percent
        table.setdefault(outer, {}).setdefault(inner, {})[item.operator] = row
    return table


# ---- user ----------------------------------------------------------------------------------------------


@route("/user/profile")
def profile() -> dict[str, Any]:
    account = _account()
    balance, held = int(account.balance_cents), int(account.held_cents)
    facade = wiring.activations()
    recent = facade.list_for_account(account.account_id, _TOP_ORDERS_READ)
    top = _top_orders(recent)
    return {
        # 5sim ids are numbers and ours are strings: a stable 48-bit number derived from the account id.
        "id": int(sha256_hex(account.account_id)[:12], 16), "email": account.email, "vendor": "",
        "default_forwarding_number": "", "balance": p.Major(balance - held), "frozen_balance": p.Major(held),
        # 5sim's rating is how many orders may be open at once (new users 8, at most 96); we limit no one, so
        # everyone has 5sim's maximum.
        "rating": RATING,
        "default_country": {"name": "any", "iso": "any", "prefix": "any"}, "default_operator": {"name": "any"},
        "did_order": bool(recent), "last_order": _order_line(recent[0]) if recent else "",
        "last_top_orders": "{" + ",".join(top) + "}",
        "last_top_idx": top.index(_order_line(recent[0])) if recent else 0,
        "total_active_orders": len(facade.active_for_account(account.account_id)),
    }


@route("/user/orders")
def orders() -> dict[str, Any]:
    account_id = _account().account_id
    query = _query()
    limit, offset, newest_first = _paging(query)
    if query.get("category", "activation") != "activation":
        return {"Data": [], "ProductNames": [], "Statuses": [], "Total": 0}
    found, more = history.window(lambda cursor: history.activations_page(
        account_id, history.HistoryFilter(), MAX_PAGE, cursor, newest_first=newest_first), offset, limit)
    return {"Data": [_order(a) for a in found], "ProductNames": [], "Statuses": [],
            "Total": offset + len(found) + (limit if more else 0)}


@route("/user/payments")
def payment_history() -> dict[str, Any]:
    account_id = _account().account_id
    limit, offset, newest_first = _paging(_query())
    entries, more = history.window(lambda cursor: history.ledger_page(
        account_id, history.HistoryFilter(), MAX_PAGE, cursor, newest_first=newest_first), offset, limit)
    kinds = sorted({str(entry.kind) for entry in entries})
    return {
        "Data": [{"ID": int(entry.seq), "TypeName": entry.kind, "ProviderName": "sms-rooms",
                  "Amount": p.Major(int(entry.amount_cents)), "Balance": p.Major(int(entry.balance_after_cents)),
                  "CreatedAt": iso(float(entry.created_at))} for entry in entries],
        "PaymentTypes": [{"Name": kind} for kind in kinds], "PaymentProviders": [{"Name": "sms-rooms"}],
        "Total": offset + len(entries) + (limit if more else 0),
    }


@route("/user/buy/activation/{country}/{operator}/{product}")
def buy_activation(country: str, operator: str, product: str) -> dict[str, Any]:
    account = _account()
    query = _query()
    service, wanted = _service(product), _operator(operator)
    if query.get("voice") in ("1", "true"):
        raise _Refused(400, "no free phones")  # we sell SMS, not calls
    from chalicelib.services.activations.ordering import OrderRequest

    request = OrderRequest(service=service, country=_order_country(country, service, wanted), operator=wanted,
                           max_price_cents=_max_price(query.get("maxPrice")))
    activation = wiring.activations().order(account, request)
    if ActivationStatus(activation.status) is ActivationStatus.FAILED:
        raise _Refused(400, "no free phones")  # every partner failed; the debit was reversed
    return _order(activation)


@route("/user/buy/hosting/{country}/{operator}/{product}")
def buy_hosting(country: str, operator: str, product: str) -> dict[str, Any]:
    account = _account()
    if country.lower() == "any":
        raise _Refused(400, "select country")
    return fivesim_hosting.buy(account, _country_id(country), _operator(operator), product, country_word)


@route("/user/reuse/{product}/{number}")
def reuse(product: str, number: str) -> dict[str, Any]:
    """Another order on a number the user had for the product (our reactivation of the newest such order, see
    services/reactivation.py). 5sim's words: 400 `reuse not possible`."""
    account = _account()
    service, phone = _service(product), number.strip().lstrip("+")
    if not (phone.isascii() and phone.isdigit() and len(phone) <= _PHONE_MAX_DIGITS):
        raise _Refused(400, "reuse not possible")
    activation = wiring.activations().reactivate_number(account, service, phone)
    if ActivationStatus(activation.status) is ActivationStatus.FAILED:
        raise _Refused(400, "no free phones")  # the partner failed it; the debit was reversed
    return _order(activation)


@route("/user/check/{order_id}")
def check(order_id: str) -> dict[str, Any]:
    account_id, number = _account().account_id, _order_id(order_id)
    try:
        return _order(wiring.activations().get(account_id, number))
    except e.NotFound:
        return fivesim_hosting.check(account_id, number, country_word)  # a hosting order, or still 404


@route("/user/finish/{order_id}")
def finish(order_id: str) -> dict[str, Any]:
    return _move(order_id, wiring.activations().finish,
                 lambda account_id, number, word: fivesim_hosting.finish(account_id, number, word))


@route("/user/cancel/{order_id}")
def cancel(order_id: str) -> dict[str, Any]:
    """During our early-cancel window 5sim's own words: 400 `you need to wait time` (fivesim's CANCEL_NEEDS_TIME)."""
    return _move(order_id, wiring.activations().cancel,
                 lambda account_id, number, word: fivesim_hosting.cancel(account_id, number, word))


@route("/user/ban/{order_id}")
def ban(order_id: str) -> dict[str, Any]:
    return _move(order_id, wiring.activations().ban,
                 lambda account_id, number, _: fivesim_hosting.ban(account_id, number))


@route("/user/sms/inbox/{order_id}")
def sms_inbox(order_id: str) -> dict[str, Any]:
    sms = check(order_id)["sms"]
    return {"Data": sms, "Total": len(sms)}


# ---- translations --------------------------------------------------------------------------------------


def _order(a: Activation) -> dict[str, Any]:
    return {
        "id": int(a.activation_id), "phone": f"+{a.phone}" if a.phone else "", "operator": a.operator or "any",
        "product": product_word(a.service), "price": p.Major(int(a.price_cents)),
        "status": _STATUSES[ActivationStatus(a.status)], "expires": iso(float(a.expires_at)),
        "sms": [{"created_at": iso(float(m.received_at)), "date": iso(float(m.received_at)), "sender": "",
                 "text": m.text, "code": m.code or ""} for m in a.sms],
        "created_at": iso(float(a.created_at)), "forwarding": False, "forwarding_number": "",
        "country": country_word(int(a.country)),
    }


def _move(order_id: str, move: Callable[[str, int], Activation],
          hosting: Callable[[str, int, Callable[[int], str]], Any]) -> dict[str, Any]:
    """A finish, cancel or ban of an activation, else of a hosting order: 5sim answers an unknown order there with
    400, where `check` says 404."""
    account_id = _account().account_id
    try:
        number = _order_id(order_id)
        try:
            return _order(move(account_id, number))
        except e.NotFound:
            return dict(hosting(account_id, number, country_word))
    except (_Refused, e.NotFound):
        raise _Refused(400, "order not found") from None


def _order_line(a: Activation) -> str:
    """`country:product:operator:order id:price`, as 5sim writes an order inside `last_order`."""
    return (f"{country_word(int(a.country))}:{product_word(a.service)}:{a.operator or 'any'}:"
            f"{int(a.activation_id)}:{format_major(int(a.price_cents))}")


def _top_orders(recent: list[Activation]) -> list[str]:
    """The newest order of each distinct (country, product, operator) choice, newest first, at most _TOP_ORDERS."""
    seen: dict[tuple[int, str, str], str] = {}
    for a in recent:
        seen.setdefault((int(a.country), a.service, a.operator or "any"), _order_line(a))
    return list(seen.values())[:_TOP_ORDERS]


def _error(error: e.DomainError) -> Response:
    if isinstance(error, e.RateLimited):
        return _text(429, "rate limit exceeded", {"Retry-After": str(error.retry_after_seconds)})
    if isinstance(error, e.IllegalTransition):
        return _text(400, _refused_move(error))
    if isinstance(error, e.InvalidInput):
        return _text(400, _INVALID_FIELDS.get(str(error.details.get("field", "")), "bad request"))
    for cls, status, text in _ERRORS:
        if isinstance(error, cls):
            return _text(status, text)
    return _text(400, "bad request")


def _refused_move(error: e.DomainError) -> str:
    status = str(error.details.get("status", ""))
    if status in ActivationStatus.__members__ and is_final(ActivationStatus(status)):
        return "order expired"
    if error.details.get("event") == "user_finish":
        return "order no sms"
    return "order has sms"


def _text(status: int, text: str, headers: dict[str, str | list[str]] | None = None) -> Response:
    return Response(body=text, status_code=status, headers={"Content-Type": "text/plain; charset=utf-8",
                                                            **(headers or {})})


def _account() -> Account:
    headers: Any = _http.request.headers or {}
    secret = fields.bearer(str(headers.get("authorization") or ""))
    _admit(secret)
    method, path = _http.route_key()
    return _http.caller(secret).require(need_of((method, path.removeprefix(PREFIX)))).account


def _admit(secret: str | None) -> None:
    rate_limit.admit_request(wiring.rate_limiter(), secret, _http.client_ip())


def _query() -> dict[str, str]:
    return dict(_http.request.query_params or {})


def _paging(query: dict[str, str]) -> tuple[int, int, bool]:
    """5sim's `limit`, `offset`, `order` and `reverse`: newest first unless `reverse=false`. `order` may name `id`
    or `created_at`, one order here (ids grow with time). Every row before `offset` is read: it is bounded."""
    limit, offset = digits(query.get("limit", "15")), digits(query.get("offset", "0"))
    reverse, order = query.get("reverse", "true").lower(), query.get("order", "id").lower()
    if limit is None or offset is None or offset > MAX_OFFSET:
        raise _Refused(400, "bad request")
    if reverse not in _BOOLEANS or order not in ("id", "created_at", "date"):
        raise _Refused(400, "bad request")
    return max(1, min(limit, MAX_PAGE)), offset, _BOOLEANS[reverse]


def _order_id(raw: str) -> int:
    order_id = digits(raw)
    if order_id is None:
        raise _Refused(404, "order not found")
    return order_id


def _service(product: str) -> str:
    service = service_for_product(product)
    if service is None or not wiring.activations().sells_service(service):
        raise _Refused(400, "no product")
    return service


def _operator(word: str) -> str | None:
    operator = word.strip().lower()
    if not re.fullmatch(r"[a-z0-9_]{1,32}", operator):
        raise _Refused(400, "bad operator")
    return None if operator == "any" else operator


def _country_id(word: str) -> int:
    country = country_for_word(word)
    if country is None:
        raise _Refused(400, "bad country")
    return country


def _order_country(word: str, service: str, operator: str | None) -> int:
    """The country asked for; for `any`, the one selling the service cheapest right now."""
    if word.lower() != "any":
        return _country_id(word)
    in_stock = [i for i in _items(service=service, operator=operator) if i.available > 0]
    if not in_stock:
        raise _Refused(400, "no free phones")
    return min(in_stock, key=lambda i: (i.price_cents, i.country)).country


def _max_price(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return parse_major(raw)
    except e.InvalidInput:
        raise _Refused(400, "bad request") from None


def _items(*, service: str | None = None, country: int | None = None, operator: str | None = None) -> list[Any]:
    items = wiring.activations().price_list(service=service, country=country)
    return [i for i in items if operator is None or i.operator in (operator, "any")]
