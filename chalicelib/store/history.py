"""One page of an account's history: a Query on the account's partition (activations by_account, the ledger, the
activity log) between two keys, newest first, reading at most `limit` rows.

Filters on attributes outside the key are DynamoDB FilterExpressions applied to those `limit` rows, so a sparse
filter gives a short (even empty) page that still says where the next one starts: a page never reads more than
`limit` rows, however few match. The position is the last key DynamoDB evaluated, not the last row returned.
The filters come as values (a status, a kind, a time range): the conditions are built here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.pagination import ResultIterator

from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import Entry, entry_of
from chalicelib.store.runtime import ActivityEntry

K = TypeVar("K", int, str)
T = TypeVar("T")


@dataclass(frozen=True)
class KeyRange(Generic[K]):
    low: K
    high: K  # both inclusive


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    last_key: int | str | None  # the last key read when more may follow; None when the range is exhausted


def activations(account_id: str, keys: KeyRange[int], limit: int, newest_first: bool = True, *,
                status: str | None = None, service: str | None = None, country: int | None = None
                ) -> Page[Activation]:
    if keys.low > keys.high:
        return Page([], None)
    where = _all(Activation.status == status if status else None,
                 Activation.service == service if service else None,
                 Activation.country == country if country is not None else None)
    results = Activation.by_account.query(
        account_id, range_key_condition=Activation.activation_id.between(keys.low, keys.high),
        filter_condition=where, scan_index_forward=not newest_first, page_size=limit)
    return _one_page(Activation.from_raw_data, results, "activation_id")


def ledger(account_id: str, keys: KeyRange[int], limit: int, newest_first: bool = True, *,
           kind: str | None = None, since: float | None = None, until: float | None = None) -> Page[Entry]:
    """Ledger entries as values; `since` (inclusive) and `until` (exclusive) are epoch seconds."""
    if keys.low > keys.high:
        return Page([], None)
    where = _all(LedgerEntry.kind == kind if kind else None,
                 LedgerEntry.created_at >= since if since is not None else None,
                 LedgerEntry.created_at < until if until is not None else None)
    results = LedgerEntry.query(account_id, range_key_condition=LedgerEntry.seq.between(keys.low, keys.high),
                                filter_condition=where, scan_index_forward=not newest_first, page_size=limit)
    return _one_page(lambda raw: entry_of(LedgerEntry.from_raw_data(raw)), results, "seq")


def activity(account_id: str, keys: KeyRange[str], limit: int, *, kind: str | None = None) -> Page[ActivityEntry]:
    if keys.low > keys.high:
        return Page([], None)
    results = ActivityEntry.query(account_id, range_key_condition=ActivityEntry.sort_key.between(keys.low, keys.high),
                                  filter_condition=ActivityEntry.kind == kind if kind else None,
                                  scan_index_forward=False, page_size=limit)
    return _one_page(ActivityEntry.from_raw_data, results, "sort_key")


def _all(*conditions: Condition | None) -> Condition | None:
    combined: Condition | None = None
    for condition in conditions:
        if condition is not None:
            combined = condition if combined is None else combined & condition
    return combined


def _one_page(of_raw: Callable[[dict[str, Any]], T], results: ResultIterator[Any], key_name: str) -> Page[T]:
    """Exactly one DynamoDB Query call (PynamoDB's iterator would keep reading until a filter is satisfied)."""
    page: dict[str, Any] = next(results.page_iter)
    items = [of_raw(raw) for raw in page.get("Items", [])]
    last = results.page_iter.last_evaluated_key
    if not last:
        return Page(items, None)
    value = last[key_name]
    return Page(items, int(value["N"]) if "N" in value else str(value["S"]))
