"""The SMS-Activate-compatible handler API at /stubs/handler_api.php: a thin adapter over the activations facade.

Bots and client libraries written for SMS-Activate work by changing only their base URL (README, "Point a
bot at SMS Rooms"). Every action of protocols.md §1; replies and error strings come from handler_protocol,
which holds the one table from domain errors to protocol strings. This module only reads the request,
authenticates the `api_key`, calls the same services as REST v1 and hands their results over.

Order of checks, as clients observe it: maintenance, then the rate limit (counted per key, so a flood of
bad keys is limited too), then the key (BAD_KEY), then the action (BAD_ACTION), then the key's scope for the
action (BAD_KEY: a `read` key may not order; domain/scopes.py), then its parameters.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.config import get_settings
from chalicelib.domain.accounts import Account
from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_state import ActivationStatus, is_final
from chalicelib.domain.catalog_data import countries, country_by_id
from chalicelib.domain.errors import DomainError, NotFound
from chalicelib.domain.money import currency_numeric
from chalicelib.domain.scopes import need_of
from chalicelib.observability import logger

if TYPE_CHECKING:  # the protocol, the store and services load with the first handler request (api/lazy.py)
    from chalicelib.api import handler_protocol as p
    from chalicelib.api import handler_rent
    from chalicelib.services.platform import rate_limit, runtime_settings
else:
    p = lazy_module("chalicelib.api.handler_protocol")
    handler_rent = lazy_module("chalicelib.api.handler_rent")  # with the rentals' rules, on the first rent action
    rate_limit = lazy_module("chalicelib.services.platform.rate_limit")
    runtime_settings = lazy_module("chalicelib.services.platform.runtime_settings")

PATH = "/stubs/handler_api.php"
# Clients send GET, POST forms (urlencoded or multipart), or POST with everything in the query string and an
# empty body whose Content-Type is whatever their HTTP library puts there (aiohttp: application/octet-stream;
# none at all, which Chalice reads as application/json; an empty header). So no Content-Type is refused; only
# the two form types are read as parameters (handler_protocol.request_params).
CONTENT_TYPES = ["*/*"]

bp = Blueprint(__name__)
_http = RestRoutes(bp)  # for the request and the caller's IP; errors are answered below, never as JSON envelopes

Action = Callable[[Account, Mapping[str, str]], "p.Reply"]
T = TypeVar("T")


@bp.route(PATH, methods=["GET", "POST"], content_types=CONTENT_TYPES)
def handler_api() -> Response:
    reply = _answer()
    headers: dict[str, str | list[str]] = {"Content-Type": reply.content_type, **dict(reply.headers)}
    return Response(body=reply.body, status_code=reply.status, headers=headers)


def _answer() -> p.Reply:
    try:
        if runtime_settings.maintenance().on:
            return p.maintenance_reply()
        params = _params()
        api_key = params.get("api_key", "").strip() or None
        rate_limit.admit_request(wiring.rate_limiter(), api_key, _http.client_ip())
        principal = _http.caller(api_key)
        name = params.get("action", "").strip()
        action = _ACTIONS.get(name) or handler_rent.ACTIONS.get(name)  # the rent API: protocols.md §5
        if action is None:
            return p.text(p.BAD_ACTION)
        return action(principal.require(need_of(f"handler:{name}")).account, params)
    except p.ProtocolError as refusal:
        return p.text(refusal.reply)
    except DomainError as error:
        return p.error_reply(error, wiring.clock().now())
    except Exception:
        # A bug or an outage: logged with its trace for us, the protocol's opaque ERROR_SQL for the client.
        logger.exception("handler API action failed")
        return p.text(p.ERROR_SQL)


def _params() -> dict[str, str]:
    request = _http.request
    headers: Any = request.headers or {}
    raw = request.raw_body or b""
    body = raw if isinstance(raw, bytes) else raw.encode()
    return p.request_params(request.query_params, str(headers.get("content-type") or ""), body)


# ---- actions ---------------------------------------------------------------------------------------------


def get_balance(account: Account, params: Mapping[str, str]) -> p.Reply:
    # What can be spent now: money held for a pending refund request is not (agreement 6.3).
    return p.balance_reply(int(account.balance_cents) - int(account.held_cents))


def get_numbers_status(account: Account, params: Mapping[str, str]) -> p.Reply:
    country = p.country_id(params, _country_ids())
    offers = p.for_operator(_offers(country=country), p.operator_name(params))
    return p.numbers_status_reply(_service_codes(), offers)


def get_countries(account: Account, params: Mapping[str, str]) -> p.Reply:
    return p.countries_reply(p.CountryView(c.id, eng=c.name_en, rus=c.name_ru, chn=c.name_zh) for c in countries())


def get_prices(account: Account, params: Mapping[str, str]) -> p.Reply:
    service = p.optional_service_code(params, _ON_SALE)
    return p.prices_reply(_offers(service=service, country=p.optional_country_id(params, _country_ids())))


def get_top_countries(account: Account, params: Mapping[str, str]) -> p.Reply:
    service = p.optional_service_code(params, _ON_SALE)
    free_price = p.is_true(params, "freePrice")
    if service is None:
        return p.top_countries_by_service_reply(_service_codes(), _offers(), free_price=free_price)
    return p.top_countries_reply(_offers(service=service), free_price=free_price)


def get_operators(account: Account, params: Mapping[str, str]) -> p.Reply:
    try:
        country = p.optional_country_id(params, _country_ids())
    except p.ProtocolError:
        return p.operators_reply({})  # SMS-Activate: a country that does not exist has no operators
    return p.operators_reply(wiring.activations().operators(country))


def get_services_list(account: Account, params: Mapping[str, str]) -> p.Reply:
    # `lang` is accepted and ignored (handler_protocol's notes); `country` keeps the services on sale there.
    country = p.optional_country_id(params, _country_ids())
    on_sale = None if country is None else {o.service for o in _offers(country=country)}
    names = wiring.activations().service_names()
    return p.services_list_reply((code, name) for code, name in names.items() if on_sale is None or code in on_sale)


def get_number(account: Account, params: Mapping[str, str]) -> p.Reply:
    return p.number_reply(_order(account, params))


def get_number_v2(account: Account, params: Mapping[str, str]) -> p.Reply:
    activation = _order(account, params)
    country = country_by_id(activation.country)
    return p.number_v2_reply(activation, currency_numeric=currency_numeric(get_settings().currency),
                             phone_code=country.phone_code if country else "0")


def get_multi_service_number(account: Account, params: Mapping[str, str]) -> p.Reply:
    from chalicelib.services.activations.batch_ordering import MultiServiceRequest  # on first use (api/lazy.py)

    services = p.multi_service_codes(params, _service_codes())
    if p.wants_forwarding(params):
        raise p.ProtocolError(p.NO_NUMBERS)  # we sell no call forwarding
    request = MultiServiceRequest(services=services, country=p.country_id(params, _country_ids()),
                                  operator=p.operator_name(params))
    batch = wiring.activations().order_multi_service(account, request)
    return p.multi_service_reply(_view(a) for a in batch.activations if a.status != ActivationStatus.FAILED.value)


def check_extra_activation(account: Account, params: Mapping[str, str]) -> p.Reply:
    quote = _parent(lambda parent_id: wiring.activations().reactivation_quote(account, parent_id), params)
    return p.extra_activation_price_reply(_view(quote.parent), quote.price_cents)


def get_extra_activation(account: Account, params: Mapping[str, str]) -> p.Reply:
    activation = _view(_parent(lambda parent_id: wiring.activations().reactivate(account, parent_id), params))
    if activation.status is ActivationStatus.FAILED:
        raise p.ProtocolError(p.NEW_ACTIVATION_IMPOSSIBLE)  # the partner failed it; the debit was reversed
    return p.number_reply(activation)


def set_status(account: Account, params: Mapping[str, str]) -> p.Reply:
    activation_id = p.activation_id(params)
    command = p.set_status_command(params)
    facade = wiring.activations()
    if command is p.SetStatus.READY:
        # "The SMS was sent" needs nothing from us, but only makes sense for an activation still running.
        if is_final(ActivationStatus(facade.get(account.account_id, activation_id).status)):
            return p.text(p.BAD_STATUS)
    elif command is p.SetStatus.RETRY:
        facade.retry(account.account_id, activation_id)
    elif command is p.SetStatus.FINISH:
        facade.finish(account.account_id, activation_id)
    else:
        facade.cancel(account.account_id, activation_id)
    return p.set_status_reply(command)


def get_status(account: Account, params: Mapping[str, str]) -> p.Reply:
    return p.status_reply(_activation(account, params))


def get_status_v2(account: Account, params: Mapping[str, str]) -> p.Reply:
    return p.status_v2_reply(_activation(account, params))


def get_full_sms(account: Account, params: Mapping[str, str]) -> p.Reply:
    return p.full_sms_reply(_activation(account, params))


def get_active_activations(account: Account, params: Mapping[str, str]) -> p.Reply:
    return p.active_activations_reply(_view(a) for a in wiring.activations().active_for_account(account.account_id))


_ACTIONS: dict[str, Action] = {
    "getBalance": get_balance,
    "getBalanceAndCashBack": get_balance,  # no cashback programme: the same balance
    "getNumbersStatus": get_numbers_status,
    "getCountries": get_countries,
    "getPrices": get_prices,
    "getTopCountriesByService": get_top_countries,
    "getOperators": get_operators,
    "getServicesList": get_services_list,
    "getNumber": get_number,
    "getNumberV2": get_number_v2,
    "setStatus": set_status,
    "getStatus": get_status,
    "getStatusV2": get_status_v2,
    "getFullSms": get_full_sms,
    "getActiveActivations": get_active_activations,
    "checkExtraActivation": check_extra_activation,
    "getMultiServiceNumber": get_multi_service_number,
    "getExtraActivation": get_extra_activation,
}


# ---- translations --------------------------------------------------------------------------------------


def _order(account: Account, params: Mapping[str, str]) -> p.ActivationView:
    service = p.service_code(params, _ON_SALE)
    if p.wants_forwarding(params):
        raise p.ProtocolError(p.NO_NUMBERS)  # we sell no call forwarding: getNumbersStatus lists no `_1` keys
    from chalicelib.services.activations.ordering import OrderRequest  # on first use (api/lazy.py)

    request = OrderRequest(service=service, country=p.country_id(params, _country_ids()),
                           operator=p.operator_name(params), max_price_cents=p.max_price_cents(params),
                           exclude_phone_prefixes=p.phone_exceptions(params))
    activation = _view(wiring.activations().order(account, request))
    if activation.status is ActivationStatus.FAILED:
        raise p.ProtocolError(p.NO_NUMBERS)  # every partner failed; the debit was reversed
    return activation


def _parent(call: Callable[[int], T], params: Mapping[str, str]) -> T:
    """`call` on the parent activation of an extra activation; one that is not the caller's names nothing."""
    try:
        return call(p.parent_activation_id(params))
    except NotFound:
        raise p.ProtocolError(p.WRONG_ACTIVATION_ID) from None


def _activation(account: Account, params: Mapping[str, str]) -> p.ActivationView:
    return _view(wiring.activations().get(account.account_id, p.activation_id(params)))


def _view(a: Activation) -> p.ActivationView:
    return p.ActivationView(
        id=int(a.activation_id), service=a.service, country=int(a.country), operator=a.operator or "any",
        phone=a.phone or "", status=ActivationStatus(a.status), price_cents=int(a.price_cents),
        created_at=float(a.created_at), expires_at=float(a.expires_at),
        sms=tuple(p.SmsView(text=m.text, code=m.code, received_at=float(m.received_at)) for m in a.sms))


def _offers(*, service: str | None = None, country: int | None = None) -> list[p.OfferView]:
    items = wiring.activations().price_list(service=service, country=country)
    return [p.OfferView(i.service, i.country, i.operator, i.price_cents, i.available, i.rates.day) for i in items]


class _ServicesOnSale:
    """Whether a code is ours or a partner's, without listing them all (a curated code reads no catalog)."""

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and wiring.activations().sells_service(code)


_ON_SALE = _ServicesOnSale()


def _service_codes() -> tuple[str, ...]:
    """Our curated codes, then those partners sell (domain/partner_codes.py): getNumbersStatus lists them so."""
    return tuple(wiring.activations().service_names())


@functools.cache
def _country_ids() -> frozenset[int]:
    return frozenset(c.id for c in countries())
