"""The SMS-Activate rent actions of the handler API (protocols.md §5): translations to services/rentals.

Every rent reply is JSON, errors too (`{"status":"error","message":"<STRING>"}`), as SMS-Activate's rent API and
its clients (the smsactivate module json.loads every rent reply) have them. What we chose where sources differ:
- hours come as `rent_time` (SMS-Activate's documentation) or `time` (what the smsactivate module sends); absent
  is 4; outside 4 hours to 4 weeks, or not ASCII digits ('٣', '²'), is INVALID_TIME;
- `service=full` rents a number for every service; `url` (a per-rental webhook) is not taken: every SMS of every
  rental goes to the account's own signed webhook (PUT /v1/webhook) as `rental.sms_received`;
- getRentStatus pages are 1-based (`page` 1 is the oldest SMS; 0 reads as 1), `size` 10 by default, at most 100;
  *uncertain*: the documentation shows the default page as 1 without saying the base;
- setRentStatus: a bad status is INCORECT_STATUS (sic, SMS-Activate's own spelling); a rental that cannot be
  canceled (after 20 minutes or an SMS) CANT_CANCEL; an ended one ALREADY_FINISH or ALREADY_CANCEL;
- an id that is missing is NO_ID_RENT, one that is not the caller's rental INVALID_PHONE (SMS-Activate's words);
- a partner refusing an extension is NO_NUMBERS (the number cannot be had for longer); nothing is charged;
- a cancel while the partner cannot say whether an SMS came is ERROR_SQL (try again), nothing refunded yet.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from chalicelib import wiring
from chalicelib.api import handler_protocol as p
from chalicelib.api.fields import digits
from chalicelib.config import get_settings
from chalicelib.domain import errors as e
from chalicelib.domain.accounts import Account
from chalicelib.domain.catalog_data import countries, service_by_code
from chalicelib.domain.clock import protocol_time
from chalicelib.domain.money import currency_numeric
from chalicelib.domain.rental import Rental
from chalicelib.domain.rental_state import (
    ANY_SERVICE,
    MAX_RENT_HOURS,
    MIN_RENT_HOURS,
    RentalStatus,
    RentRequest,
)

Params = Mapping[str, str]
_PAGE_DEFAULT, _PAGE_MAX = 10, 100
_ENDED_FINISHED = frozenset({RentalStatus.FINISHED.value, RentalStatus.EXPIRED.value})

_ERRORS: list[tuple[type[e.DomainError], str]] = [
    (e.ScopeMissing, p.BAD_KEY),
    (e.AccountRestricted, p.NO_BALANCE),
    (e.Forbidden, p.ACCOUNT_INACTIVE),
    (e.InsufficientBalance, p.NO_BALANCE),
    (e.NotFound, "INVALID_PHONE"),
    (e.NoNumbers, p.NO_NUMBERS),
    (e.PartnerError, p.NO_NUMBERS),
]
_INVALID_FIELDS = {"service": p.BAD_SERVICE, "country": p.BAD_COUNTRY, "operator": p.WRONG_OPERATOR,
                   "hours": "INVALID_TIME", "max_price_cents": p.ERROR_SQL}
_CONFLICTS = {"CANT_CANCEL": "CANT_CANCEL", "EXTENSION_IN_PROGRESS": p.ERROR_SQL}


def error(message: str) -> p.Reply:
    return p.as_json({"status": "error", "message": message})


def json_errors(action: Callable[[Account, Params], p.Reply]) -> Callable[[Account, Params], p.Reply]:
    """Domain errors and refused parameters as the rent API's JSON error, never the plain-text strings."""

    @functools.wraps(action)
    def answer(account: Account, params: Params) -> p.Reply:
        try:
            return action(account, params)
        except p.ProtocolError as refusal:
            return error(refusal.reply)
        except e.DomainError as failure:
            return error(_message(failure))

    return answer


def _message(failure: e.DomainError) -> str:
    if isinstance(failure, e.InvalidInput):
        return _INVALID_FIELDS.get(str(failure.details.get("field", "")), p.ERROR_SQL)
    if isinstance(failure, e.Conflict):
        return _CONFLICTS.get(failure.code) or _ended(failure)
    return next((reply for cls, reply in _ERRORS if isinstance(failure, cls)), p.ERROR_SQL)


def _ended(failure: e.DomainError) -> str:
    status = str(failure.details.get("status", ""))
    if status in _ENDED_FINISHED:
        return "ALREADY_FINISH"
    if status in (RentalStatus.CANCELED.value, RentalStatus.FAILED.value):
        return "ALREADY_CANCEL"
    return p.ERROR_SQL


# ---- parameters ----------------------------------------------------------------------------------------------


def rent_hours(params: Params) -> int:
    raw = (params.get("rent_time") or params.get("time") or "").strip() or str(MIN_RENT_HOURS)
    hours = digits(raw, max_digits=6)
    if hours is None or not MIN_RENT_HOURS <= hours <= MAX_RENT_HOURS:
        raise p.ProtocolError("INVALID_TIME")
    return hours


def rent_id(params: Params) -> int:
    raw = params.get("id", "").strip()
    if not raw:
        raise p.ProtocolError("NO_ID_RENT")
    value = digits(raw)
    if value is None or value < 1:
        raise p.ProtocolError("INVALID_PHONE")
    return value


def _page(params: Params, name: str, default: int, maximum: int) -> int:
    raw = params.get(name, "").strip()
    value = digits(raw, max_digits=6) if raw else default
    if value is None:
        raise p.ProtocolError(p.ERROR_SQL)
    return max(1, min(value, maximum))


def _country(params: Params) -> int:
    return p.country_id(params, frozenset(c.id for c in countries()))


# ---- actions -------------------------------------------------------------------------------------------------


@json_errors
def services_and_countries(account: Account, params: Params) -> p.Reply:
    country, hours, operator = _country(params), rent_hours(params), p.operator_name(params)
    prices = wiring.rentals().prices(country, hours, operator)
    return p.as_json({"countries": {"0": country}, "operators": {"0": operator or "any"},
                      "services": {s: {"cost": p.Major(q.price_cents), "quant": q.count}
                                   for s, q in sorted(prices.items()) if q.count > 0},
                      "realHours": hours, "currency": currency_numeric(get_settings().currency)})


@json_errors
def rent_number(account: Account, params: Params) -> p.Reply:
    service = params.get("service", "").strip()
    if service != ANY_SERVICE and service_by_code(service) is None:
        raise p.ProtocolError(p.BAD_SERVICE)
    request = RentRequest(service=service, country=_country(params), hours=rent_hours(params),
                          operator=p.operator_name(params), max_price_cents=p.max_price_cents(params))
    rental = wiring.rentals().rent(account, request)
    if rental.status != RentalStatus.ACTIVE.value:
        return error(p.NO_NUMBERS)  # every partner failed; the debit was reversed
    return _phone(rental)


@json_errors
def rent_status(account: Account, params: Params) -> p.Reply:
    service = wiring.rentals()
    rental = service.get(account.account_id, rent_id(params))
    if rental.status in _ENDED_FINISHED:
        return error("STATUS_FINISH")
    if rental.status != RentalStatus.ACTIVE.value:
        return error("STATUS_CANCEL")
    if not int(rental.sms_count):
        return error("STATUS_WAIT_CODE")
    page, size = _page(params, "page", 1, 10**6), _page(params, "size", _PAGE_DEFAULT, _PAGE_MAX)
    shown = service.inbox.page(rental, after_seq=(page - 1) * size, limit=size)
    return p.as_json({"status": "success", "quantity": str(int(rental.sms_count)), "values": {
        str(i): {"phoneFrom": s.sender or "", "text": s.text, "service": rental.service,
                 "date": protocol_time(float(s.received_at))} for i, s in enumerate(shown)}})


@json_errors
def set_rent_status(account: Account, params: Params) -> p.Reply:
    rental_id = rent_id(params)
    status = params.get("status", "").strip()
    if status == "1":
        wiring.rentals().finish(account.account_id, rental_id)
    elif status == "2":
        try:
            wiring.rentals().cancel(account.account_id, rental_id)
        except e.PartnerError:  # the partner cannot say yet whether an SMS came: try again, not "no numbers"
            return error(p.ERROR_SQL)
    else:
        raise p.ProtocolError("INCORECT_STATUS")
    return p.as_json({"status": "success"})


@json_errors
def rent_list(account: Account, params: Params) -> p.Reply:
    listed = wiring.rentals().list_for_account(account.account_id, 100)
    open_ = [r for r in listed if r.status == RentalStatus.ACTIVE.value]
    if not open_:
        return error(p.NO_NUMBERS)
    return p.as_json({"status": "success", "values": {
        str(i): {"id": int(r.rental_id), "phone": r.phone or "", "endDate": protocol_time(float(r.ends_at))}
        for i, r in enumerate(open_)}})


@json_errors
def continue_rent(account: Account, params: Params) -> p.Reply:
    return _phone(wiring.rentals().extend(account.account_id, rent_id(params), rent_hours(params)))


@json_errors
def continue_price(account: Account, params: Params) -> p.Reply:
    cents = wiring.rentals().extension_price(account.account_id, rent_id(params), rent_hours(params))
    return p.as_json({"status": "success", "price": p.Major(cents),
                      "currency": currency_numeric(get_settings().currency)})


def _phone(rental: Rental) -> p.Reply:
    return p.as_json({"status": "success", "phone": {"id": int(rental.rental_id),
                                                     "endDate": protocol_time(float(rental.ends_at)),
                                                     "number": rental.phone or ""}})


ACTIONS: dict[str, Callable[[Account, Params], p.Reply]] = {
    "getRentServicesAndCountries": services_and_countries,
    "getRentNumber": rent_number,
    "getRentStatus": rent_status,
    "setRentStatus": set_rent_status,
    "getRentList": rent_list,
    "continueRentNumber": continue_rent,
    "getContinueRentPriceNumber": continue_price,
}
