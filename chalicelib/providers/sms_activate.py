"""Partner adapter for upstreams that speak the SMS-Activate handler protocol (protocols.md §1) and its clones."""
from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.config import PartnerSettings
from chalicelib.observability import logger
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

if TYPE_CHECKING:
    from chalicelib.providers.sms_activate_rent import SmsActivateRentals

HANDLER_PATH = "/stubs/handler_api.php"

# Whole-string error replies. NO_BALANCE and ERROR_SQL are troubles on the partner's side that routing
# elsewhere works around, so they count against its circuit like a timeout does.
_UNAVAILABLE = {"NO_BALANCE", "ERROR_SQL"}
_REJECTED = {"BAD_KEY", "BAD_ACTION", "BAD_SERVICE", "BAD_STATUS", "BAD_COUNTRY", "WRONG_COUNTRY_ID",
             "WRONG_OPERATOR", "WRONG_SERVICE", "NO_ACTIVATION", "WRONG_ACTIVATION_ID", "EARLY_CANCEL_DENIED",
             "ACCOUNT_INACTIVE", "WRONG_EXCEPTION_PHONE",
             # extra activations (getExtraActivation / checkExtraActivation): this number cannot be had again
             "RENEW_ACTIVATION_NOT_AVAILABLE", "NEW_ACTIVATION_IMPOSSIBLE", "SIM_OFFLINE"}
_REJECTED_PREFIXES = ("BANNED:",)

# setStatus codes (protocols.md §1 lifecycle).
_SET_RETRY, _SET_FINISH, _SET_CANCEL = 3, 6, 8

# activationStatus in getActiveActivations is *uncertain* (sources disagree on its codes). The one value
# read here is "3", the setStatus code for "another SMS requested"; otherwise the presence of a code decides.
_ACTIVE_WAITING_RETRY = "3"

_PLAIN_STATUSES = {
    "STATUS_WAIT_CODE": PartnerStatus.WAITING,
    "STATUS_WAIT_RESEND": PartnerStatus.WAITING_RETRY,
    "STATUS_CANCEL": PartnerStatus.CANCELED,
}


def from_settings(partner: PartnerSettings, link: PartnerLink) -> SmsActivatePartner:
    """The adapter for one configured partner of this protocol (providers/registry.py calls it)."""
    return SmsActivatePartner(partner.name, partner.base_url, partner.api_key, partner.currency,
                              breaker=link.breaker, policy=link.policy)


class SmsActivatePartner:
    """Rents numbers from an SMS-Activate-protocol partner over plain HTTP GETs.

    The protocol shows only the latest SMS of an activation, so a state's `sms` holds that one SMS while the
    status is RECEIVED and is empty while waiting (for the first or for another SMS). getNumber is used rather
    than getNumberV2 because every clone has it; the cost of a number is the one its offer published.
    """

    def __init__(self, name: str, base_url: str, api_key: str, currency: str = "USD",
                 breaker: CircuitBreaker | None = None, *,
                 policy: HttpPolicy = HttpPolicy(), sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.currency = currency
        # Partners publish either the host or the full handler URL; both are accepted.
        self.url = base_url if base_url.endswith(".php") else base_url.rstrip("/") + HANDLER_PATH
        self._api_key = api_key
        self._http = PartnerHttp(name, breaker or CircuitBreaker(name=name), policy, sleep)

    @functools.cached_property
    def rentals(self) -> SmsActivateRentals:
        """The rent API (providers/rentals.py), loaded by the first rental call: an order does not need it."""
        from chalicelib.providers.sms_activate_rent import SmsActivateRentals

        return SmsActivateRentals(self)

    @property
    def breaker(self) -> CircuitBreaker:
        """This process's circuit for the partner (shown by `bin/admin partners`)."""
        return self._http.breaker

    def get_offers(self) -> list[PartnerOffer]:
        """getPrices, getOperators and getServicesList: one call each a refresh, whatever the partner sells."""
        prices = self._read("getPrices", _json_object)
        operators = self._country_operators()
        names = self._service_names()
        return [offer for country, services in prices.items() if country.isdigit()
                for offer in self._offers_of(int(country), services, operators.get(int(country), ()), names)]

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        params: dict[str, Any] = {"service": service, "country": country}
        if operator and operator != "any":
            params["operator"] = operator
        if max_cost_minor is not None:
            params["maxPrice"] = minor_to_major(max_cost_minor)
        if exclude_phones:
            # The protocol's phoneException takes prefixes; a whole number is its own longest prefix.
            params["phoneException"] = ",".join(exclude_phones)
        return self._send("getNumber", _parse_access_number, **params)

    def get_state(self, partner_activation_id: str) -> PartnerActivationState:
        status, code = self._status(partner_activation_id)
        if status is not PartnerStatus.RECEIVED or code is None:
            return PartnerActivationState(partner_activation_id, status)
        sms = PartnerSms(text=self._full_text_or(code, partner_activation_id), code=code)
        return PartnerActivationState(partner_activation_id, status, (sms,))

    def get_active_states(self) -> list[PartnerActivationState]:
        return self._read("getActiveActivations", _parse_active_activations)

    def cancel(self, partner_activation_id: str) -> None:
        self._set_status_idempotently(partner_activation_id, _SET_CANCEL, "ACCESS_CANCEL", PartnerStatus.CANCELED)

    def finish(self, partner_activation_id: str) -> None:
        # A finished activation still reads as STATUS_OK:<code>: there is no protocol string for "finished".
        self._set_status_idempotently(partner_activation_id, _SET_FINISH, "ACCESS_ACTIVATION", PartnerStatus.RECEIVED)

    def request_another_sms(self, partner_activation_id: str) -> None:
        self._send("setStatus", _expect("ACCESS_RETRY_GET"), id=partner_activation_id, status=_SET_RETRY)

    def get_balance_minor(self) -> int:
        return self._read("getBalance", _parse_balance)

    def reactivation_cost_minor(self, partner_activation_id: str, phone: str, service: str) -> int | None:
        """checkExtraActivation: `{"status":"success","cost":0.45,…}` or an error string (RENEW_ACTIVATION_…)."""
        cost: int = self._read("checkExtraActivation", _parse_extra_cost, activationId=partner_activation_id)
        return cost

    def reactivate(self, partner_activation_id: str, phone: str, service: str, max_cost_minor: int) -> PartnerNumber:
        """getExtraActivation: `ACCESS_NUMBER:<new id>:<number>`; the protocol takes no maxPrice, so the price is the
        one checkExtraActivation quoted a moment before (the caller's ceiling is its own check)."""
        number: PartnerNumber = self._send("getExtraActivation", _parse_access_number,
                                           activationId=partner_activation_id)
        if number.phone != phone:
            # Not the number the user asked to use again: give it back rather than sell a stranger's number.
            self._set_status_idempotently(number.partner_activation_id, _SET_CANCEL, "ACCESS_CANCEL",
                                          PartnerStatus.CANCELED)
            raise PartnerRejected(f"{self.name}: getExtraActivation answered another number")
        return number

    def get_multi_service_number(self, services: Sequence[str], country: int, operator: str | None
                                 ) -> dict[str, PartnerNumber]:
        """getMultiServiceNumber: `[{"phone":"7…","activation":123,"service":"vk"},…]` (the official Java client
        reads `activation` as the id and `phone` as the number, whatever the documentation's prose says)."""
        params: dict[str, Any] = {"multiService": ",".join(services), "country": country}
        if operator and operator != "any":
            params["operator"] = operator
        numbers: dict[str, PartnerNumber] = self._send("getMultiServiceNumber", _parse_multi_service, **params)
        return numbers

    def _country_operators(self) -> dict[int, tuple[str, ...]]:
        """getOperators (one call a refresh): the operators a named `operator` may be; {} when the partner does
        not have the action (clones answer BAD_ACTION) or fails it: then any name is passed on, as before."""
        try:
            return self._read("getOperators", _parse_operators)
        except (PartnerRejected, PartnerUnavailable, PartnerNoNumbers) as exc:
            logger.info("partner lists no operators", extra={"partner": self.name, "error": str(exc)})
            return {}

    def _service_names(self) -> dict[str, str]:
        """getServicesList: the partner's names for its codes (untrusted; the catalog cleans them); {} when a clone
        lacks the action or fails it: its services are then sold under their codes."""
        try:
            return self._read("getServicesList", _parse_services_list)
        except (PartnerRejected, PartnerUnavailable, PartnerNoNumbers) as exc:
            logger.info("partner lists no service names", extra={"partner": self.name, "error": str(exc)})
            return {}

    def _offers_of(self, country: int, services: object, operators: tuple[str, ...], names: dict[str, str]
                   ) -> list[PartnerOffer]:
        if not isinstance(services, dict):
            raise ValueError("services of a country must be an object")
        return [PartnerOffer(service=service, country=country, operator="any",
                             cost_minor=cost_to_minor(to_decimal(entry["cost"])), currency=self.currency,
                             count=int(entry["count"]), operators=operators, service_name=names.get(service))
                for service, entry in services.items()]

    def _full_text_or(self, code: str, partner_activation_id: str) -> str:
        """The SMS text from getFullSms; clones that lack the action still give us the code."""
        try:
            return self._read("getFullSms", _parse_full_sms, id=partner_activation_id)
        except (PartnerRejected, PartnerUnavailable):
            return code

    def _set_status_idempotently(self, partner_activation_id: str, status: int, success: str,
                                 already: PartnerStatus) -> None:
        try:
            self._send("setStatus", _expect(success), id=partner_activation_id, status=status)
        except PartnerRejected:
            # Partners differ on repeating a cancel/finish (BAD_STATUS, NO_ACTIVATION…): ask where it stands.
            if self._status(partner_activation_id)[0] is not already:
                raise

    def _status(self, partner_activation_id: str) -> tuple[PartnerStatus, str | None]:
        status_and_code: tuple[PartnerStatus, str | None] = self._read("getStatus", _parse_status,
                                                                       id=partner_activation_id)
        return status_and_code

    def _read(self, action: str, parse: Callable[[str], Any], **params: Any) -> Any:
        return self._http.read(self.url, self._reply_parser(parse), params=self._params(action, params))

    def _send(self, action: str, parse: Callable[[str], Any], **params: Any) -> Any:
        return self._http.send(self.url, self._reply_parser(parse), params=self._params(action, params))

    def _params(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"api_key": self._api_key, "action": action, **params}

    def _reply_parser(self, parse: Callable[[str], Any]) -> Callable[[PartnerReply], Any]:
        def parse_reply(response: PartnerReply) -> Any:
            # Tolerant in what we accept: a BOM or trailing newline from a clone is not an error.
            text = response.text.lstrip("\ufeff").strip()
            self._raise_protocol_error(text)
            if response.status >= 400:
                raise garbage(self.name, text)
            return parse(text)
        return parse_reply

    def _raise_protocol_error(self, text: str) -> None:
        if text == "NO_NUMBERS":
            raise PartnerNoNumbers(f"{self.name}: NO_NUMBERS")
        if text.startswith("WRONG_MAX_PRICE:"):
            raise PartnerNoNumbers(f"{self.name}: cheapest is {text.partition(':')[2]}")
        if text in _UNAVAILABLE:
            raise PartnerUnavailable(f"{self.name}: {text}")
        if text in _REJECTED or text.startswith(_REJECTED_PREFIXES):
            raise PartnerRejected(f"{self.name}: {text}")


def _expect(success: str) -> Callable[[str], None]:
    def parse(text: str) -> None:
        if not text.startswith(success):
            raise ValueError(f"expected {success}")
    return parse


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text, parse_float=Decimal)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _parse_operators(text: str) -> dict[int, tuple[str, ...]]:
    """`{"status":"success","countryOperators":{"0":["mts",…]}}`; OPERATORS_NOT_FOUND (JSON or plain) is none."""
    if text == "OPERATORS_NOT_FOUND":
        return {}
    value = _json_object(text)
    listed = value.get("countryOperators") if value.get("status") == "success" else None
    if not isinstance(listed, dict):
        return {}
    return {int(country): tuple(str(name).lower() for name in names if isinstance(name, str) and name)
            for country, names in listed.items() if country.isdigit() and isinstance(names, list)}


def _parse_services_list(text: str) -> dict[str, str]:
    """`{"status":"success","services":[{"code":"tg","name":"Telegram"},…]}` → {code: name} (strings only)."""
    value = _json_object(text)
    listed = value.get("services") if value.get("status") == "success" else None
    if not isinstance(listed, list):
        return {}
    return {entry["code"]: entry["name"] for entry in listed
            if isinstance(entry, dict) and isinstance(entry.get("code"), str) and isinstance(entry.get("name"), str)}


def _parse_balance(text: str) -> int:
    prefix, _, amount = text.partition(":")
    if prefix != "ACCESS_BALANCE":
        raise ValueError("expected ACCESS_BALANCE")
    return balance_to_minor(to_decimal(amount))


def _parse_access_number(text: str) -> PartnerNumber:
    prefix, activation_id, phone = text.split(":")
    digits = phone.lstrip("+")
    if prefix != "ACCESS_NUMBER" or not activation_id or not digits.isdigit():
        raise ValueError("expected ACCESS_NUMBER:<id>:<digits>")
    return PartnerNumber(partner_activation_id=activation_id, phone=digits)


def _parse_extra_cost(text: str) -> int:
    reply = _json_object(text)
    if reply.get("status") != "success":
        # Clones put the refusal in JSON too: {"status":"error","message":"RENEW_ACTIVATION_NOT_AVAILABLE"}.
        raise PartnerRejected(str(reply.get("message") or reply.get("error") or "checkExtraActivation refused"))
    return cost_to_minor(to_decimal(reply["cost"]))


def _parse_multi_service(text: str) -> dict[str, PartnerNumber]:
    rows = json.loads(text)
    if isinstance(rows, dict):  # PHP writes a list with gaps as an object keyed "0", "1"…
        rows = list(rows.values())
    if not isinstance(rows, list) or not rows:
        raise ValueError("expected a list of activations")
    numbers: dict[str, PartnerNumber] = {}
    for row in rows:
        phone = str(row["phone"]).lstrip("+")
        activation_id = str(row["activation"])
        if not phone.isdigit() or not activation_id.isdigit():
            raise ValueError("expected digits in phone and activation")
        numbers[str(row["service"])] = PartnerNumber(partner_activation_id=activation_id, phone=phone)
    if len({n.phone for n in numbers.values()}) != 1:
        raise ValueError("a multi-service answer must be one number")
    return numbers


def _parse_status(text: str) -> tuple[PartnerStatus, str | None]:
    if text in _PLAIN_STATUSES:
        return _PLAIN_STATUSES[text], None
    head, _, code = text.partition(":")
    if head == "STATUS_WAIT_RETRY":
        return PartnerStatus.WAITING_RETRY, None
    if head == "STATUS_OK" and code:
        return PartnerStatus.RECEIVED, code
    raise ValueError("unknown status")


def _parse_full_sms(text: str) -> str:
    prefix, colon, sms_text = text.partition(":")
    if prefix != "FULL_SMS" or not colon:
        raise ValueError("expected FULL_SMS:<text>")
    return sms_text


def _parse_active_activations(text: str) -> list[PartnerActivationState]:
    if text == "NO_ACTIVATIONS":
        return []
    reply = _json_object(text)
    if reply.get("status") != "success":
        # Some clones wrap the empty case: {"status":"error","error":"NO_ACTIVATIONS"}.
        if reply.get("error") == "NO_ACTIVATIONS":
            return []
        raise ValueError("getActiveActivations did not succeed")
    return [_active_state(item) for item in reply["activeActivations"]]


def _active_state(item: dict[str, Any]) -> PartnerActivationState:
    activation_id = str(item["activationId"])
    code = _last(item.get("smsCode"))
    if str(item.get("activationStatus")) == _ACTIVE_WAITING_RETRY:
        return PartnerActivationState(activation_id, PartnerStatus.WAITING_RETRY)
    if code is None:
        return PartnerActivationState(activation_id, PartnerStatus.WAITING)
    sms = PartnerSms(text=_last(item.get("smsText")) or code, code=code)
    return PartnerActivationState(activation_id, PartnerStatus.RECEIVED, (sms,))


def _last(value: object) -> str | None:
    """The latest of a field that clones send as null, a string or a list of strings."""
    if isinstance(value, list):
        value = value[-1] if value else None
    if value is None or value == "":
        return None
    return str(value)
