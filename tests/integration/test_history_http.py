"""Histories that page over real HTTP: filters, opaque cursors across pages, another account's cursor refused,
CSV exports, and 5sim's offset paging, on the local stack (DynamoDB Local, the partner simulator)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.services.accounts.activity import record_activity
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from tests.support import Customer, customer_with_key, priced_on_demand

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    with priced_on_demand(stack) as settings:
        yield settings


def _get(stack, customer: Customer, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{stack.app_url}{path}", params=params, timeout=10,
                        headers={"Authorization": f"Bearer {customer.api_key}"})


def _all_pages(stack, customer: Customer, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        reply = _get(stack, customer, path, **params, **({"cursor": cursor} if cursor else {}))
        assert reply.status_code == 200, reply.text
        pages.append(reply.json()["items"])
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture(scope="module")
def buyer(stack, priced) -> tuple[Customer, list[int], list[int]]:
    """An account with three orders of one (service, country) and two of another, in stock at the simulator."""
    customer = customer_with_key(priced, balance_cents=100_000)
    items = requests.get(f"{stack.app_url}/v1/catalog", timeout=10).json()["items"]
    in_stock = sorted({(i["service"], i["country"]) for i in items if i["available"] > 0})
    first, second = in_stock[0], next(p for p in in_stock if p[0] != in_stock[0][0])
    ids: dict[tuple[str, int], list[int]] = {first: [], second: []}
    for pair in (first, second, first, second, first):
        reply = requests.post(f"{stack.app_url}/v1/activations", json={"service": pair[0], "country": pair[1]},
                              headers={"Authorization": f"Bearer {customer.api_key}"}, timeout=10)
        assert reply.status_code == 201, reply.text
        ids[pair].append(reply.json()["id"])
    return customer, ids[first], ids[second]


def test_activations_list__pages_a_filtered_history_with_cursors(stack, buyer):
    customer, first_ids, _ = buyer
    newest = _get(stack, customer, "/v1/activations", limit=1).json()["items"][0]
    # When the history is read two at a time, filtered to the first service and country, from today
    pages = _all_pages(stack, customer, "/v1/activations", limit=2, **_filter_of(stack, customer, first_ids[0]),
                       **{"from": newest["created_at"][:10]})
    # Then more than one page was needed and together they hold exactly that pair's orders, newest first
    assert len(pages) > 1 and all(len(page) <= 2 for page in pages)
    assert [a["id"] for page in pages for a in page] == sorted(first_ids, reverse=True)


def _filter_of(stack, customer: Customer, activation_id: int) -> dict[str, Any]:
    activation = _get(stack, customer, f"/v1/activations/{activation_id}").json()
    return {"service": activation["service"], "country": activation["country"]}


def test_activations_list__status_and_date_filters_narrow_it(stack, buyer):
    customer, first_ids, second_ids = buyer
    # When filtered on a status none has, or on a day after today, nothing is listed
    assert _all_pages(stack, customer, "/v1/activations", status="BANNED") == [[]]
    assert [a for page in _all_pages(stack, customer, "/v1/activations", **{"from": "2099-01-01"}) for a in page] == []
    # And before tomorrow every order is
    listed = [a["id"] for page in _all_pages(stack, customer, "/v1/activations", to="2099-01-01") for a in page]
    assert sorted(listed) == sorted(first_ids + second_ids)


def test_history_cursor__from_another_account_is_refused(stack, priced, buyer):
    # Given a cursor given to the buyer
    customer, _, _ = buyer
    cursor = _get(stack, customer, "/v1/activations", limit=1).json()["next_cursor"]
    assert cursor
    # When another account presents it
    other = customer_with_key(priced)
    reply = _get(stack, other, "/v1/activations", cursor=cursor)
    # Then it is refused with a 4xx naming the cursor, and lists nothing of the buyer's
    assert reply.status_code == 422 and reply.json()["error"]["details"]["field"] == "cursor"
    assert _get(stack, customer, "/v1/ledger", cursor=cursor).status_code == 422  # nor on another list


def test_activations_export__csv_with_the_same_filters(stack, buyer):
    customer, first_ids, _ = buyer
    reply = _get(stack, customer, "/v1/activations/export.csv", **_filter_of(stack, customer, first_ids[0]))
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.headers["Content-Disposition"] == 'attachment; filename="activations.csv"'
    assert reply.headers["Cache-Control"] == "no-store" and "X-Next-Cursor" not in reply.headers
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [int(r["id"]) for r in rows] == sorted(first_ids, reverse=True)
    assert {r["status"] for r in rows} == {"WAITING"} and all(r["phone"] for r in rows)


def test_ledger__kind_filter_pages_and_exports_with_formulas_defused(stack, priced):
    # Given an account with four adjustments, one memo a spreadsheet formula, and a top-up-like credit of another kind
    customer = customer_with_key(priced)
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    for memo in ("one", '=HYPERLINK("http://evil.example","x")', "three, with a comma"):
        wallet.post(customer.account_id, 100, LedgerKind.ADJUSTMENT, new_id("test"), memo=memo)
    wallet.post(customer.account_id, 500, LedgerKind.TOP_UP, new_id("test"), memo="card")
    # When the adjustments are paged two at a time
    pages = _all_pages(stack, customer, "/v1/ledger", kind="adjustment", limit=2)
    # Then they are all there, newest first, over more than one page, and the top-up is not
    entries = [e for page in pages for e in page]
    assert len(pages) > 1 and [e["kind"] for e in entries] == ["adjustment"] * 3
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    # And the CSV has the same rows, the formula cell prefixed so no spreadsheet runs it
    text = _get(stack, customer, "/v1/ledger/export.csv", kind="adjustment").text
    memos = [r["memo"] for r in csv.DictReader(io.StringIO(text))]
    assert memos == ["three, with a comma", '\'=HYPERLINK("http://evil.example","x")', "one"]
    # And an unknown kind or a bad date is a clear 422
    assert _get(stack, customer, "/v1/ledger", kind="nope").status_code == 422
    assert _get(stack, customer, "/v1/ledger", **{"from": "٢٠٢٦-01-01"}).status_code == 422


def test_activity__pages_with_a_kind_filter_and_exports(stack, priced):
    customer = customer_with_key(priced)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        record_activity(customer.account_id, "sign_in", ip, clock=SystemClock())
    record_activity(customer.account_id, "api_key_created", "192.0.2.9", clock=SystemClock())
    pages = _all_pages(stack, customer, "/v1/activity", kind="sign_in", limit=2)
    assert len(pages) > 1 and [e["ip"] for page in pages for e in page] == ["192.0.2.3", "192.0.2.2", "192.0.2.1"]
    rows = list(csv.DictReader(io.StringIO(_get(stack, customer, "/v1/activity/export.csv").text)))
    assert [r["kind"] for r in rows] == ["api_key_created", "sign_in", "sign_in", "sign_in"]


def test_fivesim_orders__limit_offset_and_reverse(stack, buyer):
    customer, first_ids, second_ids = buyer
    newest_first = sorted(first_ids + second_ids, reverse=True)

    def page(**params: Any) -> dict[str, Any]:
        reply = _get(stack, customer, "/5sim/v1/user/orders", category="activation", **params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    assert [o["id"] for o in page(limit=2, offset=1, order="id", reverse="true")["Data"]] == newest_first[1:3]
    assert [o["id"] for o in page(limit=2, offset=0, order="id", reverse="false")["Data"]] == newest_first[::-1][:2]
    last = page(limit=2, offset=4)
    assert [o["id"] for o in last["Data"]] == newest_first[4:] and last["Total"] == 5
    assert page(limit=2, offset=0)["Total"] > 2  # more follow: a client paging by Total goes on
    assert _get(stack, customer, "/5sim/v1/user/orders", offset="99999999").status_code == 400
