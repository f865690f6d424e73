"""REST v1 for the catalog (public) and activations (authenticated): thin translations to the activations facade."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes
from chalicelib.domain.activation import Activation
from chalicelib.domain.catalog_data import countries
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # the services load with the first request that needs them (api/lazy.py)
    from chalicelib.services.activations.batch_ordering import Batch
    from chalicelib.services.activations.catalog import CatalogItem
    from chalicelib.services.activations.facade import Activations
    from chalicelib.services.activations.ordering import OrderRequest

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

_PUBLIC_CACHE: dict[str, str | list[str]] = {"Cache-Control": "public, max-age=30"}


@v1.route("/v1/catalog", methods=["GET"])
def catalog() -> Response:
    query: Any = v1.request.query_params or {}
    country = fields.query_integer(query, "country")
    items = wiring.activations().price_list(service=query.get("service") or None, country=country)
    return Response(body={"items": [_item_view(i) for i in items]}, headers=_PUBLIC_CACHE)


@v1.route("/v1/services", methods=["GET"])
def service_list() -> Response:
    # Our curated names, then the services partners sell that the curated list lacks, under the partner's name.
    names = wiring.activations().service_names()
    return Response(body={"items": [{"code": code, "name": name} for code, name in names.items()]},
                    headers=_PUBLIC_CACHE)


@v1.route("/v1/countries", methods=["GET"])
def country_list() -> Response:
    items = [{"id": c.id, "name": c.name_en, "iso2": c.iso2, "phone_code": c.phone_code} for c in countries()]
    return Response(body={"items": items}, headers=_PUBLIC_CACHE)


@v1.route("/v1/activations", methods=["POST"])
def order_number() -> Response:
    principal = v1.principal()
    body = v1.json_body()
    request = _order_request(body)
    if "count" in body and (type(body["count"]) is not int or body["count"] != 1):
        raise InvalidInput("One number per order here: for several, POST /v1/activations/bulk with 'count'.",
                           details={"field": "count"})
    headers: Any = v1.request.headers or {}
    facade = wiring.activations()
    activation = facade.order(principal.account, request, headers.get("idempotency-key"))
    return Response(body=view(activation, facade), status_code=201)


@v1.route("/v1/activations/bulk", methods=["POST"])
def order_bulk() -> Response:
    """Up to BULK_MAX_COUNT numbers of one service and country: debited together, the unfilled part refunded."""
    principal = v1.principal()
    body = v1.json_body()
    request = _order_request(body)
    count = fields.required_integer(body, "count", minimum=1)
    headers: Any = v1.request.headers or {}
    facade = wiring.activations()
    batch = facade.order_bulk(principal.account, request, count, headers.get("idempotency-key"))
    return Response(body=_batch_view(batch, facade), status_code=201)


@v1.route("/v1/activations/multi", methods=["POST"])
def order_multi_service() -> Response:
    """One number for several services: an activation and a charge per service, debited together."""
    from chalicelib.services.activations.batch_ordering import MultiServiceRequest  # on first use (api/lazy.py)

    principal = v1.principal()
    body = v1.json_body()
    request = MultiServiceRequest(services=_services(body),
                                  country=fields.required_integer(body, "country", minimum=0),
                                  operator=fields.optional_text(body, "operator", max_length=32))
    facade = wiring.activations()
    batch = facade.order_multi_service(principal.account, request)
    return Response(body=_batch_view(batch, facade), status_code=201)


@v1.route("/v1/activations/{activation_id}", methods=["GET"])
def get_activation(activation_id: str) -> dict[str, Any]:
    facade = wiring.activations()
    return view(facade.get(v1.principal().account.account_id, _activation_id(activation_id)), facade)


@v1.route("/v1/activations/{activation_id}/cancel", methods=["POST"])
def cancel_activation(activation_id: str) -> dict[str, Any]:
    facade = wiring.activations()
    return view(facade.cancel(v1.principal().account.account_id, _activation_id(activation_id)), facade)


@v1.route("/v1/activations/{activation_id}/finish", methods=["POST"])
def finish_activation(activation_id: str) -> dict[str, Any]:
    facade = wiring.activations()
    return view(facade.finish(v1.principal().account.account_id, _activation_id(activation_id)), facade)


@v1.route("/v1/activations/{activation_id}/retry", methods=["POST"])
def retry_activation(activation_id: str) -> dict[str, Any]:
    facade = wiring.activations()
    return view(facade.retry(v1.principal().account.account_id, _activation_id(activation_id)), facade)


@v1.route("/v1/activations/{activation_id}/ban", methods=["POST"])
def ban_activation(activation_id: str) -> dict[str, Any]:
    facade = wiring.activations()
    return view(facade.ban(v1.principal().account.account_id, _activation_id(activation_id)), facade)


@v1.route("/v1/activations/{activation_id}/reactivation", methods=["GET"])
def reactivation_price(activation_id: str) -> dict[str, Any]:
    """What another code on this activation's number costs now; 409 REACTIVATION_NOT_AVAILABLE when it cannot be had."""
    quote = wiring.activations().reactivation_quote(v1.principal().account, _activation_id(activation_id))
    parent = quote.parent
    return {"activation_id": int(parent.activation_id), "phone": parent.phone, "service": parent.service,
            "country": int(parent.country), "price_cents": quote.price_cents}


@v1.route("/v1/activations/{activation_id}/reactivate", methods=["POST"])
def reactivate_activation(activation_id: str) -> Response:
    """Order another code on the number (a new activation, charged and refunded like an order)."""
    principal = v1.principal()
    body = v1.json_body()
    max_price = fields.integer(body, "max_price_cents", minimum=1, required=False)
    headers: Any = v1.request.headers or {}
    facade = wiring.activations()
    activation = facade.reactivate(principal.account, _activation_id(activation_id), max_price,
                                   headers.get("idempotency-key"))
    return Response(body=view(activation, facade), status_code=201)


def view(activation: Activation, facade: Activations) -> dict[str, Any]:
    """An activation as API.md shows it, plus when cancel becomes possible."""
    return {
        "id": int(activation.activation_id), "service": activation.service, "country": int(activation.country),
        "operator": activation.operator, "phone": activation.phone, "status": activation.status,
        "price_cents": int(activation.price_cents), "created_at": iso(float(activation.created_at)),
        "expires_at": iso(float(activation.expires_at)),
        "cancel_available_at": iso(facade.cancel_available_at(activation)),
        "sms": [{"code": s.code, "text": s.text, "received_at": iso(float(s.received_at))} for s in activation.sms],
        "reactivation_of": None if activation.reactivation_of is None else int(activation.reactivation_of),
    }


def _batch_view(batch: Batch, facade: Activations) -> dict[str, Any]:
    return {"requested": batch.requested, "issued": len(batch.issued), "refunded_cents": batch.refunded_cents,
            "items": [view(a, facade) for a in batch.activations]}


def _order_request(body: dict[str, Any]) -> OrderRequest:
    from chalicelib.services.activations.ordering import OrderRequest  # on first use (api/lazy.py)

    return OrderRequest(service=fields.text(body, "service", max_length=16),
                        country=fields.required_integer(body, "country", minimum=0),
                        operator=fields.optional_text(body, "operator", max_length=32),
                        max_price_cents=fields.integer(body, "max_price_cents", minimum=1, required=False))


def _services(body: dict[str, Any]) -> tuple[str, ...]:
    from chalicelib.services.activations.batch_ordering import MAX_SERVICES  # on first use (api/lazy.py)

    value = body.get("services")
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_SERVICES:
        raise InvalidInput(f"'services' must be a list of 2 to {MAX_SERVICES} service codes.",
                           details={"field": "services"})
    if not all(isinstance(code, str) for code in value):
        raise InvalidInput("'services' must hold service codes (strings).", details={"field": "services"})
    return tuple(fields.checked_text(code, "services", max_length=16) for code in value)


def _item_view(item: CatalogItem) -> dict[str, Any]:
    return {"service": item.service, "country": item.country, "operator": item.operator,
            "price_cents": item.price_cents, "available": item.available, "operators": list(item.operators),
            # The share of numbers sold here that received a code: outcomes known, and its percentage (null: none).
            "success_percent_24h": item.rates.day.percent, "outcomes_24h": item.rates.day.ended,
            "success_percent_7d": item.rates.week.percent, "outcomes_7d": item.rates.week.ended}


def _activation_id(raw: str) -> int:
    activation_id = fields.digits(raw)
    if activation_id is None:
        raise NotFound("No such activation.")
    return activation_id
