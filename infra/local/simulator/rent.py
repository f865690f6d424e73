"""SMS-Activate's rent API as an upstream partner answers it (protocols.md §5), over the simulator's books.

A rented number gets its first SMS `sms_delay_seconds` after the rent (like an activation) and any more through
`POST /_sim/deliver`; each SMS is pushed, signed like every simulator push, to the `url` given at getRentNumber
(else the configured push URL) with SMS-Activate's rent webhook body `{"rentId", "sms": {"phoneFrom", "text",
"date"}}`. getRentList rows carry `quantity` (their SMS count), which the real list may not (our adapter reads it
when present). Rent ids come from the activations' counter, so one id never names two things.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.domain.clock import protocol_time
from infra.local.simulator import catalog
from infra.local.simulator.activation import ProtocolError, major_number

if TYPE_CHECKING:
    from infra.local.simulator.handler_api import Reply
    from infra.local.simulator.state import SimState

Params = Mapping[str, str]
ANY_SERVICE = "full"
CANCEL_WINDOW_SECONDS = 1200.0
_MIN_HOURS, _MAX_HOURS = 4, 24 * 7 * 8  # the partner sells up to eight weeks; we resell up to four
_HOUR = 3600


@dataclass
class SimRentSms:
    text: str
    sender: str
    received_at: float


@dataclass
class SimRental:
    id: int
    service: str
    country: int
    phone: str
    hours: int
    cost_minor: int
    created_at: float
    ends_at: float
    url: str | None
    status: str = "ACTIVE"  # ACTIVE | FINISHED | CANCELED
    sms: list[SimRentSms] = field(default_factory=list)
    first_sms_due: float | None = None

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "service": self.service, "country": self.country, "phone": self.phone,
                "hours": self.hours, "status": self.status, "ends_at": self.ends_at,
                "sms": [{"text": s.text, "sender": s.sender} for s in self.sms]}


def rent_cost_minor(service: str, country: int, hours: int) -> int:
    """A rental costs a base (dearer for any service) and a little per hour."""
    base = 80 if service == ANY_SERVICE else catalog.default_price_minor(service, country) * 2
    return base + hours * 5


class SimRentals:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.rentals: dict[int, SimRental] = {}

    def rent(self, service: str, country: int, hours: int, url: str | None) -> SimRental:
        state = self.state
        offer = (service if service != ANY_SERVICE else "ot", country)
        cost = rent_cost_minor(service, country, hours)
        if state.stock[offer] <= 0 or state.roll(state.config.fail_rate, "no_numbers"):
            raise _error("NO_NUMBERS")
        if state.balance_minor < cost:
            raise _error("NO_BALANCE")
        now = state.clock.now()
        rental = SimRental(state.take_id(), service, country, state.new_phone(country), hours, cost, now,
                           now + hours * _HOUR, url, first_sms_due=now + state.config.sms_delay_seconds)
        self.rentals[rental.id] = rental
        state.stock[offer] -= 1
        state.balance_minor -= cost
        state.listener.sms_scheduled(rental.id, state.config.sms_delay_seconds)
        return rental

    def get(self, raw_id: str) -> SimRental:
        if not raw_id:
            raise _error("NO_ID_RENT")
        rental = self.rentals.get(int(raw_id)) if raw_id.isdigit() else None
        if rental is None:
            raise _error("INVALID_PHONE")
        self.refresh(rental.id)
        return rental

    def refresh(self, rental_id: int) -> None:
        """Deliver the first SMS when due, end a rental whose time is over."""
        rental = self.rentals.get(rental_id)
        if rental is None:
            return
        now = self.state.clock.now()
        if rental.status == "ACTIVE" and rental.first_sms_due is not None and rental.first_sms_due <= now:
            code = catalog.new_code(rental.service if rental.service in catalog.SERVICES else "ot", self.state.rng)
            name = catalog.SERVICES.get(rental.service, "Service")
            self.receive(rental, catalog.sms_text(rental.service if rental.service in catalog.SERVICES else "ot",
                                                  code), name, rental.first_sms_due)
        if rental.status == "ACTIVE" and now >= rental.ends_at:
            rental.status = "FINISHED"

    def receive(self, rental: SimRental, text: str, sender: str, at: float) -> None:
        rental.first_sms_due = None
        sms = SimRentSms(text, sender, at)
        rental.sms.append(sms)
        url = rental.url or self.state.config.push_url
        if url:
            body = {"rentId": str(rental.id), "sms": {"phoneFrom": sender, "text": text,
                                                      "date": protocol_time(sms.received_at)}}
            self.state.listener.rental_sms(url, json.dumps(body).encode())

    def deliver_now(self, phone: str, text: str) -> SimRental | None:
        for rental in self.rentals.values():
            self.refresh(rental.id)
            if rental.phone == phone and rental.status == "ACTIVE":
                self.receive(rental, text, "Sender", self.state.clock.now())
                return rental
        return None


# ---- the protocol --------------------------------------------------------------------------------------------


def _error(message: str) -> ProtocolError:
    return ProtocolError(json.dumps({"status": "error", "message": message}))


def _hours(params: Params, name: str = "rent_time") -> int:
    raw = params.get(name) or params.get("time") or "4"
    if not raw.isascii() or not raw.isdigit() or not _MIN_HOURS <= int(raw) <= _MAX_HOURS:
        raise _error("INVALID_TIME")
    return int(raw)


def _country(params: Params) -> int:
    raw = params.get("country", "") or "0"
    if not raw.isascii() or not raw.isdigit() or int(raw) not in catalog.COUNTRIES:
        raise _error("WRONG_COUNTRY")
    return int(raw)


def services_and_countries(state: SimState, params: Params) -> Reply:
    from infra.local.simulator.handler_api import as_json

    country, hours = _country(params), _hours(params)
    plan = catalog.COUNTRIES[country]
    services = {s: {"cost": major_number(rent_cost_minor(s, country, hours)),
                    "quant": {"current": state.stock[(s if s != ANY_SERVICE else "ot", country)],
                              "total": state.stock[(s if s != ANY_SERVICE else "ot", country)]}}
                for s in (ANY_SERVICE, *catalog.SERVICES)}
    return as_json({"countries": {"0": country}, "operators": {str(i): o for i, o in enumerate(("any",
                                                                                                *plan.operators))},
                    "services": services, "realHours": hours,
                    "currency": catalog.CURRENCY_NUMERIC[state.config.currency]})


def rent_number(state: SimState, params: Params) -> Reply:
    service = params.get("service", "")
    if service != ANY_SERVICE and service not in catalog.SERVICES:
        raise _error("BAD_SERVICE")
    rental = state.rent.rent(service, _country(params), _hours(params), params.get("url") or None)
    return _phone_reply(rental)


def _phone_reply(rental: SimRental) -> Reply:
    from infra.local.simulator.handler_api import as_json

    return as_json({"status": "success", "phone": {"id": rental.id, "endDate": protocol_time(rental.ends_at),
                                                   "number": rental.phone}})


def rent_status(state: SimState, params: Params) -> Reply:
    from infra.local.simulator.handler_api import as_json

    rental = state.rent.get(params.get("id", ""))
    if rental.status != "ACTIVE":
        raise _error("STATUS_FINISH" if rental.status == "FINISHED" else "STATUS_CANCEL")
    if not rental.sms:
        raise _error("STATUS_WAIT_CODE")
    page = max(int(params["page"]), 1) if params.get("page", "").isdigit() else 1  # 1-based, as we read the docs
    size = min(int(params["size"]), 100) if params.get("size", "").isdigit() and int(params["size"]) else 10
    shown = rental.sms[(page - 1) * size:page * size]
    return as_json({"status": "success", "quantity": str(len(rental.sms)), "values": {
        str(i): {"phoneFrom": s.sender, "text": s.text, "service": rental.service,
                 "date": protocol_time(s.received_at)} for i, s in enumerate(shown)}})


def set_rent_status(state: SimState, params: Params) -> Reply:
    from infra.local.simulator.handler_api import as_json

    rental = state.rent.get(params.get("id", ""))
    status = params.get("status", "")
    if status not in ("1", "2"):
        raise _error("INCORECT_STATUS")  # sic: SMS-Activate's spelling
    if rental.status == "FINISHED":
        raise _error("ALREADY_FINISH")
    if rental.status == "CANCELED":
        raise _error("ALREADY_CANCEL")
    if status == "2":
        if rental.sms or state.clock.now() - rental.created_at >= CANCEL_WINDOW_SECONDS:
            raise _error("CANT_CANCEL")
        rental.status = "CANCELED"
        state.balance_minor += rental.cost_minor
    else:
        rental.status = "FINISHED"
    return as_json({"status": "success"})


def rent_list(state: SimState, params: Params) -> Reply:
    from infra.local.simulator.handler_api import as_json

    for rental_id in list(state.rent.rentals):
        state.rent.refresh(rental_id)
    open_ = [r for r in state.rent.rentals.values() if r.status == "ACTIVE"]
    if not open_:
        raise _error("NO_NUMBERS")
    return as_json({"status": "success", "values": {
        str(i): {"id": r.id, "phone": r.phone, "quantity": len(r.sms), "endDate": protocol_time(r.ends_at)}
        for i, r in enumerate(open_)}})


def _continued(state: SimState, params: Params) -> tuple[SimRental, int, int]:
    rental = state.rent.get(params.get("id", ""))
    if rental.status != "ACTIVE":
        raise _error("RENT_DIE")
    hours = _hours(params)
    return rental, hours, 10 + hours * 5


def continue_price(state: SimState, params: Params) -> Reply:
    from infra.local.simulator.handler_api import as_json

    _, _, cost = _continued(state, params)
    return as_json({"status": "success", "price": major_number(cost),
                    "currency": catalog.CURRENCY_NUMERIC[state.config.currency]})


def continue_rent(state: SimState, params: Params) -> Reply:
    rental, hours, cost = _continued(state, params)
    if state.balance_minor < cost:
        raise _error("NO_BALANCE")
    state.balance_minor -= cost
    rental.hours += hours
    rental.ends_at += hours * _HOUR
    return _phone_reply(rental)


ACTIONS: dict[str, Callable[[SimState, Params], Reply]] = {
    "getRentServicesAndCountries": services_and_countries, "getRentNumber": rent_number, "getRentStatus": rent_status,
    "setRentStatus": set_rent_status, "getRentList": rent_list, "continueRentNumber": continue_rent,
    "getContinueRentPriceNumber": continue_price,
}
