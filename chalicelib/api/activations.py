"""REST v1 for the catalog (public) and activations (authenticated): thin translations to the activations facade."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes
from chalicelib.domain.catalog_data import countries
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import NotFound
from chalicelib.store.activations import Activation

if TYPE_CHECKING:  # the services load with the first request that needs them (api/lazy.py)
    from chalicelib.services.activations.catalog import CatalogItem
    from chalicelib.services.activations.facade import Activations

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
    from chalicelib.services.activations.ordering import OrderRequest

    request = OrderRequest(service=fields.text(body, "service", max_length=16),
                           country=fields.required_integer(body, "country", minimum=0),
                           operator=fields.optional_text(body, "operator", max_length=32),
                           max_price_cents=fields.integer(body, "max_price_cents", minimum=1, required=False))
    headers: Any = v1.request.headers or {}
    facade = wiring.activations()
    activation = facade.order(principal.account, request, headers.get("idempotency-key"))
    return Response(body=view(activation, facade), status_code=201)


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


def view(activation: Activation, facade: Activations) -> dict[str, Any]:
    """An activation as API.md shows it, plus when cancel becomes possible."""
    return {
        "id": int(activation.activation_id), "service": activation.service, "country": int(activation.country),
        "operator": activation.operator, "phone": activation.phone, "status": activation.status,
        "price_cents": int(activation.price_cents), "created_at": iso(float(activation.created_at)),
        "expires_at": iso(float(activation.expires_at)),
        "cancel_available_at": iso(facade.cancel_available_at(activation)),
        "sms": [{"code": s.code, "text": s.text, "received_at": iso(float(s.received_at))} for s in activation.sms],
    }


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
