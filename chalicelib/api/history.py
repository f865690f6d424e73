"""REST v1 histories that page: activations, ledger, activity and payments with filters and an opaque
`cursor`/`next_cursor`, and each as CSV (`GET /v1/<history>/export.csv`).

An export is built page by page (100 rows a Query) into one body of at most EXPORT_MAX_ROWS rows: a Lambda behind
API Gateway cannot stream its response. When rows remain, the reply carries `X-Next-Cursor` and a `Link` with
rel="next": the same request with that cursor continues the file where it stopped (without the header line).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import activations as activation_routes
from chalicelib.api import fields
from chalicelib.api import money as money_routes
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput

if TYPE_CHECKING:  # these load with the first request that needs them, not with the app (api/lazy.py)
    from chalicelib.api import account_views as views
    from chalicelib.domain import csv_export
    from chalicelib.services.money import history, payment_history
    from chalicelib.services.money.history import HistoryFilter, HistoryPage
    from chalicelib.services.money.payment_history import PaymentFilter, PaymentRow
    from chalicelib.store.activations import Activation
    from chalicelib.store.ledger import LedgerEntry
    from chalicelib.store.runtime import ActivityEntry
else:
    csv_export = lazy_module("chalicelib.domain.csv_export")
    history = lazy_module("chalicelib.services.money.history")
    payment_history = lazy_module("chalicelib.services.money.payment_history")
    views = lazy_module("chalicelib.api.account_views")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

DEFAULT_LIMIT = 50
LEDGER_MAX_LIMIT = 200  # what GET /v1/ledger has always allowed
_SERVICE = re.compile(r"^[a-z0-9]{1,16}$")
_KIND = re.compile(r"^[a-z_]{1,40}$")
_CSV_HEADERS: dict[str, str | list[str]] = {"Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store"}


@v1.route("/v1/activations", methods=["GET"])
def list_activations() -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query = _query()
    page = history.activations_page(account_id, _activation_filter(query), _limit(query, clamp=True),
                                    query.get("cursor") or None)
    facade = wiring.activations()
    return {"items": [activation_routes.view(a, facade) for a in page.items], "next_cursor": page.next_cursor}


@v1.route("/v1/ledger", methods=["GET"])
def ledger() -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query = _query()
    limit = _limit(query, maximum=LEDGER_MAX_LIMIT)
    page = history.ledger_page(account_id, _ledger_filter(query), limit, query.get("cursor") or None,
                               fields.query_integer(query, "before_seq", minimum=1))
    return {"items": [history.ledger_entry_json(entry) for entry in page.items],
            "next_before_seq": page.last_key, "next_cursor": page.next_cursor}


@v1.route("/v1/activity", methods=["GET"])
def activity() -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query = _query()
    before = query.get("before") or None
    if before is not None and not re.fullmatch(r"\d{13}#[0-9a-f]{8}", before):
        raise InvalidInput("'before' is not a cursor this API gave out.", details={"field": "before"})
    page = history.activity_page(account_id, _activity_filter(query), _limit(query), query.get("cursor") or None,
                                 wiring.clock().now(), before)
    return {"items": [views.activity(e) for e in page.items], "next_before": page.last_key,
            "next_cursor": page.next_cursor}


@v1.route("/v1/payments", methods=["GET"])
def payments_list() -> dict[str, Any]:
    account_id = v1.principal().account.account_id
    query = _query()
    page = payment_history.payments_page(account_id, _payment_filter(query), _limit(query), query.get("cursor") or None)
    return {"items": [money_routes.payment_view(row) for row in page.items], "next_cursor": page.next_cursor}


@v1.route("/v1/activations/export.csv", methods=["GET"])
def export_activations() -> Response:
    account_id = v1.principal().account.account_id
    query = _query()
    wanted = _activation_filter(query)
    return _export("activations", query, lambda c: history.activations_page(account_id, wanted, history.MAX_PAGE, c),
                   ["id", "created_at", "service", "country", "operator", "phone", "status", "price_cents", "code"],
                   _activation_row)


@v1.route("/v1/ledger/export.csv", methods=["GET"])
def export_ledger() -> Response:
    account_id = v1.principal().account.account_id
    query = _query()
    wanted = _ledger_filter(query)
    return _export("ledger", query, lambda c: history.ledger_page(account_id, wanted, history.MAX_PAGE, c),
                   ["seq", "created_at", "kind", "amount_cents", "balance_after_cents", "cause_id", "memo"],
                   _ledger_row)


@v1.route("/v1/activity/export.csv", methods=["GET"])
def export_activity() -> Response:
    account_id = v1.principal().account.account_id
    query = _query()
    wanted, now = _activity_filter(query), wiring.clock().now()
    return _export("activity", query, lambda c: history.activity_page(account_id, wanted, history.MAX_PAGE, c, now),
                   ["created_at", "kind", "ip", "detail"], _activity_row)


@v1.route("/v1/payments/export.csv", methods=["GET"])
def export_payments() -> Response:
    account_id = v1.principal().account.account_id
    query = _query()
    wanted = _payment_filter(query)
    return _export("payments", query,
                   lambda c: payment_history.payments_page(account_id, wanted, history.MAX_PAGE, c),
                   ["created_at", "type", "id", "status", "amount_cents", "currency", "payment_intent_id",
                    "refund_request_id"], _payment_row)


def _export(name: str, query: Mapping[str, str], read: Callable[[str | None], HistoryPage], header: list[str],
            row: Callable[[Any], list[Any]]) -> Response:
    cursor = query.get("cursor") or None
    rows, next_cursor = history.export_rows(read, row, cursor)
    body = csv_export.csv_text(header, rows)
    if cursor is not None:
        body = body.split("\r\n", 1)[1]  # a continuation: the header line came with the first part
    headers = {**_CSV_HEADERS, "Content-Disposition": f'attachment; filename="{name}.csv"'}
    if next_cursor is not None:
        more = urlencode({**query, "cursor": next_cursor})
        headers |= {"X-Next-Cursor": next_cursor, "Link": f'</v1/{name}/export.csv?{more}>; rel="next"'}
    return Response(body=body, headers=headers)


def _activation_row(a: Activation) -> list[Any]:
    code = next((m.code for m in reversed(a.sms) if m.code), None)
    return [int(a.activation_id), iso(float(a.created_at)), a.service, int(a.country), a.operator, a.phone, a.status,
            int(a.price_cents), code]


def _ledger_row(e: LedgerEntry) -> list[Any]:
    return [int(e.seq), iso(float(e.created_at)), e.kind, int(e.amount_cents), int(e.balance_after_cents),
            e.cause_id, e.memo]


def _activity_row(e: ActivityEntry) -> list[Any]:
    return [iso(float(e.created_at)), e.kind, e.ip, e.detail]


def _payment_row(row: PaymentRow) -> list[Any]:
    view = money_routes.payment_view(row)
    return [view["created_at"], view["type"], view["id"], view.get("status"), view["amount_cents"],
            view.get("currency"), view.get("payment_intent_id"), view.get("refund_request_id")]


def _query() -> dict[str, str]:
    return dict(v1.request.query_params or {})


def _activation_filter(query: Mapping[str, str]) -> HistoryFilter:
    status = query.get("status") or None
    if status is not None and status not in {s.value for s in ActivationStatus}:
        raise InvalidInput("'status' is not an activation status.", details={"field": "status"})
    service = query.get("service") or None
    if service is not None and not _SERVICE.match(service):
        raise InvalidInput("'service' is not a service code.", details={"field": "service"})
    since, until = _dates(query)
    return history.HistoryFilter(status=status, service=service, country=fields.query_integer(query, "country"),
                         since=since, until=until)


def _ledger_filter(query: Mapping[str, str]) -> HistoryFilter:
    kind = query.get("kind") or None
    if kind is not None and kind not in {k.value for k in LedgerKind}:
        raise InvalidInput("'kind' is not a ledger entry kind.", details={"field": "kind"})
    since, until = _dates(query)
    return history.HistoryFilter(kind=kind, since=since, until=until)


def _activity_filter(query: Mapping[str, str]) -> HistoryFilter:
    kind = query.get("kind") or None
    if kind is not None and not _KIND.match(kind):
        raise InvalidInput("'kind' is not an activity kind.", details={"field": "kind"})
    since, until = _dates(query)
    return history.HistoryFilter(kind=kind, since=since, until=until)


def _payment_filter(query: Mapping[str, str]) -> PaymentFilter:
    kind = query.get("type") or None
    if kind is not None and kind not in payment_history.PAYMENT_TYPES:
        raise InvalidInput(f"'type' must be one of {', '.join(sorted(payment_history.PAYMENT_TYPES))}.",
                           details={"field": "type"})
    status = query.get("status") or None
    if status is not None and status not in payment_history.PAYMENT_STATUSES:
        raise InvalidInput(f"'status' must be one of {', '.join(sorted(payment_history.PAYMENT_STATUSES))}.",
                           details={"field": "status"})
    since, until = _dates(query)
    return payment_history.PaymentFilter(type=kind, status=status, since=since, until=until)


def _dates(query: Mapping[str, str]) -> tuple[float | None, float | None]:
    """`from` (inclusive) and `to` (exclusive): a day (`2026-12-05`, UTC) or an ISO 8601 time with a zone."""
    found: dict[str, float | None] = {}
    for name, field in (("from", "since"), ("to", "until")):
        raw = query.get(name) or None
        try:
            found[field] = history.parse_day_or_time(raw) if raw is not None else None
        except ValueError:
            raise InvalidInput(f"'{name}' must be a date (2026-12-05) or a time with a zone "
                               "(2026-12-05T10:00:00Z).", details={"field": name}) from None
    if found["since"] is not None and found["until"] is not None and found["since"] >= found["until"]:
        raise InvalidInput("'from' must be before 'to'.", details={"field": "from"})
    return found["since"], found["until"]


def _limit(query: Mapping[str, str], *, maximum: int | None = None, clamp: bool = False) -> int:
    """1..maximum; the activations list has always cut a larger number down to it, the others refuse it."""
    maximum = history.MAX_PAGE if maximum is None else maximum
    raw = query.get("limit") or None
    if raw is None:
        return DEFAULT_LIMIT
    value = fields.digits(raw)
    if value is not None and value >= 1 and (value <= maximum or clamp):
        return min(value, maximum)
    raise InvalidInput(f"'limit' must be a whole number from 1 to {maximum}.", details={"field": "limit"})
