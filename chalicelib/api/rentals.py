"""REST v1 for rentals (numbers held for hours to weeks): thin translations to services/rentals."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.config import get_settings
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # the rentals' rules load with the first rental request, not with the app (api/lazy.py)
    from chalicelib.domain import rental_state
    from chalicelib.domain.rental import Rental, RentalSms
else:
    rental_state = lazy_module("chalicelib.domain.rental_state")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

_SMS_PAGE = 100


@v1.route("/v1/rentals/prices", methods=["GET"])
def rent_prices() -> dict[str, Any]:
    v1.principal()
    query: Any = v1.request.query_params or {}
    country = _required(fields.query_integer(query, "country", maximum=10_000), "country")
    hours = _hours_in_query(query)
    operator = query.get("operator") or None
    prices = wiring.rentals().prices(country, hours, operator)
    return {"country": country, "hours": hours, "cancel_refund_seconds": _cancel_window(), "items": [
        {"service": s, "price_cents": q.price_cents, "available": q.count} for s, q in sorted(prices.items())]}


@v1.route("/v1/rentals", methods=["POST"])
def rent_number() -> Response:
    principal = v1.principal()
    body = v1.json_body()
    service = fields.text(body, "service", max_length=16, required=False) or rental_state.ANY_SERVICE
    request = rental_state.RentRequest(service=service,
                                       country=fields.required_integer(body, "country", minimum=0, maximum=10_000),
                                       hours=_hours_in_body(body),
                                       operator=fields.optional_text(body, "operator", max_length=32),
                                       max_price_cents=fields.integer(body, "max_price_cents", minimum=1,
                                                                      required=False))
    headers: Any = v1.request.headers or {}
    rental = wiring.rentals().rent(principal.account, request, headers.get("idempotency-key"))
    return Response(body=view(rental), status_code=201)


@v1.route("/v1/rentals", methods=["GET"])
def list_rentals() -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query: Any = v1.request.query_params or {}
    limit = fields.query_integer(query, "limit", minimum=1, maximum=rental_state.MAX_LIST_LIMIT) or 20
    before = fields.query_integer(query, "cursor", minimum=1)
    found = wiring.rentals().list_for_account(account_id, limit, before)
    cursor = str(int(found[-1].rental_id)) if len(found) == limit else None
    return {"items": [view(r) for r in found], "next_cursor": cursor}


@v1.route("/v1/rentals/{rental_id}", methods=["GET"])
def get_rental(rental_id: str) -> dict[str, Any]:
    return view(wiring.rentals().get(v1.principal().account.account_id, _rental_id(rental_id)))


@v1.route("/v1/rentals/{rental_id}/sms", methods=["GET"])
def rental_sms(rental_id: str) -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query: Any = v1.request.query_params or {}
    after = fields.query_integer(query, "after") or 0
    limit = fields.query_integer(query, "limit", minimum=1, maximum=_SMS_PAGE) or _SMS_PAGE
    service = wiring.rentals()
    rental = service.get(account_id, _rental_id(rental_id))
    items = service.inbox.page(rental, after_seq=after, limit=limit)
    return {"items": [sms_view(s) for s in items], "sms_count": int(rental.sms_count), "status": rental.status,
            "next_after": int(items[-1].seq) if items else after}


@v1.route("/v1/rentals/{rental_id}/extension-price", methods=["GET"])
def extension_price(rental_id: str) -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query: Any = v1.request.query_params or {}
    hours = _hours_in_query(query)
    return {"hours": hours, "price_cents": wiring.rentals().extension_price(account_id, _rental_id(rental_id), hours)}


@v1.route("/v1/rentals/{rental_id}/extend", methods=["POST"])
def extend_rental(rental_id: str) -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    hours = _hours_in_body(v1.json_body())
    return view(wiring.rentals().extend(account_id, _rental_id(rental_id), hours))


@v1.route("/v1/rentals/{rental_id}/finish", methods=["POST"])
def finish_rental(rental_id: str) -> dict[str, Any]:
    return view(wiring.rentals().finish(v1.principal().account.account_id, _rental_id(rental_id)))


@v1.route("/v1/rentals/{rental_id}/cancel", methods=["POST"])
def cancel_rental(rental_id: str) -> dict[str, Any]:
    return view(wiring.rentals().cancel(v1.principal().account.account_id, _rental_id(rental_id)))


def _cancel_window() -> int:
    """How long after renting a cancel refunds everything (before any SMS); 0: rentals are final."""
    settings = get_settings()
    return settings.rental_cancel_window_seconds if settings.refunds_enabled else 0


def view(rental: Rental) -> dict[str, Any]:
    window = _cancel_window()
    refundable_until = float(rental.created_at) + window
    return {
        "id": int(rental.rental_id), "service": rental.service, "country": int(rental.country),
        "operator": rental.operator, "phone": rental.phone, "status": rental.status, "hours": int(rental.hours),
        "price_cents": int(rental.paid_cents), "extensions": int(rental.extensions),
        "created_at": iso(float(rental.created_at)), "ends_at": iso(float(rental.ends_at)),
        "cancel_refund_until": iso(refundable_until) if window > 0 and not rental.has_sms else None,
        "sms_count": int(rental.sms_count),
    }


def sms_view(sms: RentalSms) -> dict[str, Any]:
    return {"seq": int(sms.seq), "code": sms.code, "text": sms.text, "sender": sms.sender,
            "received_at": iso(float(sms.received_at))}


def _hours_in_query(query: Any) -> int:
    return _hours(fields.query_integer(query, "hours", minimum=rental_state.MIN_RENT_HOURS,
                                       maximum=rental_state.MAX_RENT_HOURS))


def _hours_in_body(body: dict[str, Any]) -> int:
    return _hours(fields.integer(body, "hours", minimum=rental_state.MIN_RENT_HOURS,
                                 maximum=rental_state.MAX_RENT_HOURS))


def _hours(value: int | None) -> int:
    if value is None:
        raise InvalidInput(f"'hours' is required: {rental_state.MIN_RENT_HOURS} to {rental_state.MAX_RENT_HOURS}.",
                           details={"field": "hours"})
    return value  # its range is the service's to judge (INVALID_TIME), the same for every adapter


def _required(value: int | None, name: str) -> int:
    if value is None:
        raise InvalidInput(f"'{name}' is required.", details={"field": name})
    return value


def _rental_id(raw: str) -> int:
    rental_id = fields.digits(raw)
    if rental_id is None:
        raise NotFound("No such rental.")
    return rental_id
