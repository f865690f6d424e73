"""SMS-Activate's rent API (protocols.md §5) from the partner side: what SmsActivatePartner.rentals speaks.

Shapes are those of SMS-Activate's own client libraries (the Java SMSActivateApi's rent response types, the
smsactivate PyPI module) and the clones' published documentation:
- getRentServicesAndCountries → {"countries":{…},"operators":{…},"services":{"tg":{"cost":1.5,"quant":20}},…};
  `quant` is a number, or {"current","total"} in newer answers (both read).
- getRentNumber → {"status":"success","phone":{"id":…,"endDate":…,"number":"…"}}, or {"status":"error","message":…}.
- getRentStatus → {"status":"success","quantity":"2","values":{"0":{"phoneFrom","text","service","date"}}}; no SMS
  yet is {"status":"error","message":"STATUS_WAIT_CODE"}, an ended rental STATUS_CANCEL / STATUS_FINISH.
- setRentStatus (1 finish, 2 cancel) → {"status":"success"}; ALREADY_FINISH / ALREADY_CANCEL repeat it (idempotent).
- getRentList → {"status":"success","values":{"0":{"id","phone",…}}} (a list in some clones); none is the error
  NO_NUMBERS. *uncertain*: whether a row carries its SMS count. Where it does (`quantity`, as getRentStatus names
  it; our simulator writes it), the poller reads SMS only of rentals whose count moved; otherwise rentals' SMS
  come by push and when the user looks, and the poller still never asks about each rental in turn.
- continueRentNumber (id, rent_time) → getRentNumber's shape; getContinueRentPriceNumber (id, rent_time) →
  {"status":"success","price":…} (some clones `cost`).
Hours go as `rent_time` (SMS-Activate's documentation; its PyPI module sends `time`, which we accept as a server).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.providers.rentals import PartnerRental, RentListed, RentOffer, RentSms, RentState
from chalicelib.providers.transport import cost_to_minor, to_decimal

if TYPE_CHECKING:
    from chalicelib.providers.sms_activate import SmsActivatePartner

_FINISH, _CANCEL = 1, 2
_UNAVAILABLE = {"NO_BALANCE", "ERROR_SQL", "SERVER_ERROR", "CHANNELS_LIMIT"}
_OPEN_WITHOUT_SMS = "STATUS_WAIT_CODE"
_ENDED = {"STATUS_CANCEL", "STATUS_FINISH"}
_ERROR_WORD = re.compile(r"[A-Z][A-Z0-9_]{1,40}")


class SmsActivateRentals:
    def __init__(self, partner: SmsActivatePartner) -> None:
        self._partner = partner

    def offers(self, country: int, hours: int, operator: str | None) -> list[RentOffer]:
        params: dict[str, Any] = {"rent_time": hours, "country": country}
        if operator and operator != "any":
            params["operator"] = operator
        reply = self._partner._read("getRentServicesAndCountries", _reply, **params)
        services = reply.get("services")
        if not isinstance(services, dict):
            raise ValueError("getRentServicesAndCountries without services")
        return [RentOffer(service=str(code), country=country, hours=hours,
                          cost_minor=cost_to_minor(to_decimal(entry["cost"])), count=_quantity(entry.get("quant")))
                for code, entry in services.items() if isinstance(entry, dict)]

    def rent(self, service: str, country: int, hours: int, operator: str | None, push_url: str | None
             ) -> PartnerRental:
        params: dict[str, Any] = {"service": service, "rent_time": hours, "country": country}
        if operator and operator != "any":
            params["operator"] = operator
        if push_url:
            params["url"] = push_url
        return self._partner._send("getRentNumber", _rented, **params)

    def state(self, partner_rent_id: str, page: int, size: int) -> RentState:
        # Pages are 1-based on the wire (*uncertain*: documented with a default of 1); ours count from 0.
        return self._partner._read("getRentStatus", _state, id=partner_rent_id, page=page + 1, size=size)

    def listed(self) -> list[RentListed]:
        return self._partner._read("getRentList", _listed)

    def extend_price_minor(self, partner_rent_id: str, hours: int) -> int:
        reply = self._partner._read("getContinueRentPriceNumber", _reply, id=partner_rent_id, rent_time=hours)
        return cost_to_minor(to_decimal(reply["price"] if "price" in reply else reply["cost"]))

    def extend(self, partner_rent_id: str, hours: int) -> None:
        self._partner._send("continueRentNumber", _rented, id=partner_rent_id, rent_time=hours)

    def finish(self, partner_rent_id: str) -> None:
        self._set_status(partner_rent_id, _FINISH, "ALREADY_FINISH")

    def cancel(self, partner_rent_id: str) -> None:
        self._set_status(partner_rent_id, _CANCEL, "ALREADY_CANCEL")

    def _set_status(self, partner_rent_id: str, status: int, already: str) -> None:
        self._partner._send("setRentStatus", _ok_or(already), id=partner_rent_id, status=status)


def _json(text: str) -> dict[str, Any]:
    value = json.loads(text, parse_float=Decimal)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _raise_error(message: str) -> None:
    if message == "NO_NUMBERS":
        raise PartnerNoNumbers(f"rent: {message}")
    if message in _UNAVAILABLE:
        raise PartnerUnavailable(f"rent: {message}")
    raise PartnerRejected(f"rent: {message}")


def _reply(text: str) -> dict[str, Any]:
    """A rent reply: its JSON object, or the partner error its `message` (or a plain-text reply) names."""
    reply = _json(_error_word_or(text))
    if reply.get("status") == "error":
        _raise_error(str(reply.get("message") or reply.get("error") or ""))
    return reply


def _error_word_or(text: str, *, raise_it: bool = True) -> str:
    """JSON text as it is; a plain-text error word (clones answer BAD_KEY, NO_NUMBERS… unwrapped) raised, or
    wrapped as the JSON error it stands for; anything else (an HTML page) is garbage: the partner is unavailable."""
    if text.startswith("{"):
        return text
    if not _ERROR_WORD.fullmatch(text):
        raise ValueError("neither JSON nor an error word")
    if raise_it:
        _raise_error(text)
    return json.dumps({"status": "error", "message": text})


def _rented(text: str) -> PartnerRental:
    phone = _reply(text)["phone"]
    number = str(phone["number"]).lstrip("+")
    if not number.isdigit() or not str(phone["id"]).isdigit():
        raise ValueError("expected phone.id and phone.number as digits")
    return PartnerRental(partner_rent_id=str(phone["id"]), phone=number)


def _state(text: str) -> RentState:
    reply = _json(_error_word_or(text, raise_it=False))
    if reply.get("status") == "error":
        message = str(reply.get("message") or "")
        if message == _OPEN_WITHOUT_SMS:
            return RentState(open=True)
        if message in _ENDED:
            return RentState(open=False)
        _raise_error(message)
    rows = _rows(reply)
    sms = tuple(RentSms(text=str(row["text"]), sender=_text_or_none(row.get("phoneFrom")),
                        date=_text_or_none(row.get("date"))) for row in rows)
    return RentState(open=True, quantity=int(reply.get("quantity", len(sms))), sms=sms)


def _listed(text: str) -> list[RentListed]:
    reply = _json(_error_word_or(text, raise_it=False))
    if reply.get("status") == "error":
        if reply.get("message") == "NO_NUMBERS":
            return []  # SMS-Activate's word for "no rented numbers"
        _raise_error(str(reply.get("message") or ""))
    return [RentListed(str(row["id"]), _count(row)) for row in _rows(reply)]


def _rows(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """`values`: an object keyed "0", "1"… (SMS-Activate) or a list (some clones), of objects."""
    values = reply.get("values") or {}
    rows = list(values.values()) if isinstance(values, dict) else values
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("values must hold objects")
    return rows


def _count(row: dict[str, Any]) -> int | None:
    raw = row.get("quantity", row.get("smsCount"))
    return None if raw is None else int(raw)


def _quantity(raw: object) -> int:
    if isinstance(raw, dict):
        raw = raw.get("current", raw.get("total", 0))
    return int(str(raw)) if raw is not None else 0


def _ok_or(already: str) -> Callable[[str], None]:
    def parse(text: str) -> None:
        try:
            _reply(text)
        except PartnerRejected as exc:
            if not str(exc).endswith(already):
                raise
    return parse


def _text_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
