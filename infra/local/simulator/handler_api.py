"""The SMS-Activate handler protocol (protocols.md §1) as an upstream partner answers it, byte for byte."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from chalicelib.domain.clock import protocol_time
from infra.local.simulator import catalog, rent
from infra.local.simulator.activation import (
    ProtocolError,
    SimActivation,
    SimStatus,
    format_major,
    major_number,
)
from infra.local.simulator.state import SimState

Params = Mapping[str, str]

GARBAGE_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"

# activationStatus in getActiveActivations: upstream sources disagree on its codes (*uncertain*). The simulator
# writes "1" waiting for the first SMS (as after setStatus 1), "2" SMS received, "3" another SMS asked (setStatus 3).
_ACTIVATION_STATUS = {SimStatus.WAITING: "1", SimStatus.RECEIVED: "2", SimStatus.WAITING_RETRY: "3"}


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def text(body: str) -> Reply:
    return Reply(200, body)


def as_json(value: object) -> Reply:
    return Reply(200, json.dumps(value, separators=(",", ":")), "application/json")


def handle(state: SimState, params: Params) -> Reply:
    """One handler call: counted, delayed and faulted as configured, then answered."""
    action = params.get("action", "")
    state.count(state.calls, action)
    config = state.config
    if config.latency_ms:
        time.sleep(config.latency_ms / 1000)
    if state.roll(config.http_error_rate, "http_error"):
        return Reply(500, "Internal Server Error")
    if state.roll(config.garbage_rate, "garbage"):
        return Reply(200, GARBAGE_PAGE, "text/html; charset=utf-8")
    if params.get("api_key") != config.api_key:
        return text("BAD_KEY")
    answer = _ACTIONS.get(action)
    if answer is None or action in config.disabled_actions:
        return text("BAD_ACTION")
    try:
        with state.lock:
            return answer(state, params)
    except ProtocolError as exc:
        return text(exc.reply)


def _service(params: Params) -> str:
    service = params.get("service", "")
    if service not in catalog.SERVICES:
        raise ProtocolError("BAD_SERVICE")
    return service


def _country(params: Params) -> int:
    """The country id; absent means 0, as SMS-Activate defaults to Russia."""
    raw = params.get("country", "") or "0"
    if not raw.isdigit() or int(raw) not in catalog.COUNTRIES:
        raise ProtocolError("WRONG_COUNTRY_ID")
    return int(raw)


def _activation(state: SimState, params: Params) -> SimActivation:
    raw = params.get("id", "")
    if not raw.isdigit() or int(raw) < 1:
        raise ProtocolError("WRONG_ACTIVATION_ID")
    return state.get(int(raw))


def _max_price(params: Params) -> Decimal | None:
    """maxPrice in major units; a value that is not a number is ignored, as lenient partners do."""
    try:
        price = Decimal(params.get("maxPrice", ""))
    except InvalidOperation:
        return None
    return price if price.is_finite() and price > 0 else None


def get_balance(state: SimState, params: Params) -> Reply:
    return text(f"ACCESS_BALANCE:{format_major(state.balance_minor)}")


def get_numbers_status(state: SimState, params: Params) -> Reply:
    country = _country(params)
    return as_json({f"{service}_0": count for (service, c), count in state.stock.items() if c == country})


def get_countries(state: SimState, params: Params) -> Reply:
    return as_json({str(c.id): {"id": c.id, "rus": c.rus, "eng": c.eng, "chn": c.chn, "visible": 1, "retry": 1,
                                "rent": 0, "multiService": 1} for c in catalog.COUNTRIES.values()})


def get_prices(state: SimState, params: Params) -> Reply:
    service = _service(params) if params.get("service") else None
    country = _country(params) if params.get("country") else None
    prices: dict[str, dict[str, dict[str, float | int]]] = {}
    for (s, c), price in state.prices.items():
        if service in (None, s) and country in (None, c):
            prices.setdefault(str(c), {})[s] = {"cost": major_number(price), "count": state.stock[(s, c)]}
    return as_json(prices)


def get_operators(state: SimState, params: Params) -> Reply:
    """`{"status":"success","countryOperators":{"0":["mts",…]}}`, for one country when `country` is given."""
    country = _country(params) if params.get("country") else None
    return as_json({"status": "success", "countryOperators": {
        str(c.id): list(c.operators) for c in catalog.COUNTRIES.values() if country in (None, c.id)}})


def get_services_list(state: SimState, params: Params) -> Reply:
    """`{"status":"success","services":[{"code","name"},…]}`: every service this partner sells."""
    return as_json({"status": "success", "services": [{"code": code, "name": name}
                                                       for code, name in catalog.SERVICES.items()]})


def _buy(state: SimState, params: Params) -> SimActivation:
    exclude = tuple(p.strip() for p in params.get("phoneException", "").split(",") if p.strip().isdigit())
    return state.buy(_service(params), _country(params), params.get("operator"), _max_price(params), exclude)


def get_number(state: SimState, params: Params) -> Reply:
    activation = _buy(state, params)
    return text(f"ACCESS_NUMBER:{activation.id}:{activation.phone}")


def get_number_v2(state: SimState, params: Params) -> Reply:
    a = _buy(state, params)
    return as_json({
        "activationId": a.id, "phoneNumber": a.phone, "activationCost": major_number(a.cost_minor),
        "currency": catalog.CURRENCY_NUMERIC[state.config.currency], "countryCode": str(a.country),
        "countryPhoneCode": int(catalog.COUNTRIES[a.country].phone_code), "canGetAnotherSms": True,
        "activationTime": protocol_time(a.created_at), "activationEndTime": protocol_time(a.expires_at),
        "activationOperator": a.operator,
    })


def _parent(params: Params) -> int:
    """The `activationId` of getExtraActivation / checkExtraActivation (some clients send `id`)."""
    raw = params.get("activationId", "") or params.get("id", "")
    if not raw.isdigit() or int(raw) < 1:
        raise ProtocolError("WRONG_ACTIVATION_ID")
    return int(raw)


def check_extra_activation(state: SimState, params: Params) -> Reply:
    parent, price = state.extra_activation_cost(_parent(params))
    return as_json({"status": "success", "cost": major_number(price), "service": parent.service,
                    "phone": int(parent.phone), "country": parent.country})


def get_extra_activation(state: SimState, params: Params) -> Reply:
    activation = state.extra_activation(_parent(params))
    return text(f"ACCESS_NUMBER:{activation.id}:{activation.phone}")


def get_multi_service_number(state: SimState, params: Params) -> Reply:
    """`[{"phone":"7…","activation":123,"service":"vk"},…]`: one number, an activation per service."""
    services = tuple(s.strip() for s in params.get("multiService", "").split(","))
    if not services or any(s not in catalog.SERVICES for s in services) or len(set(services)) != len(services):
        raise ProtocolError("BAD_SERVICE")
    opened = state.multi_service(services, _country(params), params.get("operator"))
    return as_json([{"phone": a.phone, "activation": a.id, "service": a.service} for a in opened])


def set_status(state: SimState, params: Params) -> Reply:
    activation = _activation(state, params)
    raw = params.get("status", "")
    if not raw.lstrip("-").isdigit():
        raise ProtocolError("BAD_STATUS")
    return text(state.set_status(activation.id, int(raw)))


def get_status(state: SimState, params: Params) -> Reply:
    a = _activation(state, params)
    if a.status is SimStatus.WAITING:
        return text("STATUS_WAIT_CODE")
    if a.status is SimStatus.CANCELED:
        return text("STATUS_CANCEL")
    if a.status is SimStatus.WAITING_RETRY:
        return text(f"STATUS_WAIT_RETRY:{a.last_code}")
    return text(f"STATUS_OK:{a.last_code}")


def get_status_v2(state: SimState, params: Params) -> Reply:
    a = _activation(state, params)
    if a.status is SimStatus.CANCELED:
        return text("STATUS_CANCEL")
    last = a.sms[-1] if a.sms else None
    sms = {"dateTime": protocol_time(last.received_at), "code": last.code, "text": last.text} if last else None
    return as_json({"verificationType": 1, "sms": sms, "call": None})


def get_full_sms(state: SimState, params: Params) -> Reply:
    a = _activation(state, params)
    if a.status is SimStatus.CANCELED:
        return text("STATUS_CANCEL")
    if not a.sms:
        return text("STATUS_WAIT_CODE")
    return text(f"FULL_SMS:{a.sms[-1].text}")


def get_active_activations(state: SimState, params: Params) -> Reply:
    active = state.active()
    if not active:
        return text("NO_ACTIVATIONS")
    return as_json({"status": "success", "activeActivations": [{
        "activationId": str(a.id), "serviceCode": a.service, "phoneNumber": a.phone,
        "activationCost": format_major(a.cost_minor), "activationStatus": _ACTIVATION_STATUS[a.status],
        "smsCode": [s.code for s in a.sms] or None, "smsText": a.sms[-1].text if a.sms else None,
        "activationTime": protocol_time(a.created_at), "countryCode": str(a.country), "canGetAnotherSms": "1",
    } for a in active]})


_ACTIONS: dict[str, Callable[[SimState, Params], Reply]] = {
    "getBalance": get_balance, "getBalanceAndCashBack": get_balance, "getNumbersStatus": get_numbers_status,
    "getCountries": get_countries, "getPrices": get_prices, "getNumber": get_number, "getNumberV2": get_number_v2,
    "setStatus": set_status, "getStatus": get_status, "getStatusV2": get_status_v2, "getFullSms": get_full_sms,
    "getActiveActivations": get_active_activations, "getOperators": get_operators,
    "getServicesList": get_services_list,
    **rent.ACTIONS,
    "checkExtraActivation": check_extra_activation, "getExtraActivation": get_extra_activation,
    "getMultiServiceNumber": get_multi_service_number,
}
