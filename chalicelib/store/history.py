"""One page of an account's history: a Query on the account's partition (activations by_account, the ledger, the
activity log) between two keys, newest first, reading at most `limit` rows.

Filters on attributes outside the key are DynamoDB FilterExpressions applied to those `limit` rows, so a sparse
filter gives a short (even empty) page that still says where the next one starts: a page never reads more than
`limit` rows, however few match. The position is the last key DynamoDB evaluated, not the last row returned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.runtime import ActivityEntry

M = TypeVar("M", bound=Model)
K = TypeVar("K", int, str)


@dataclass(frozen=True)
class KeyRange(Generic[K]):
    low: K
    high: K  # both inclusive


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    last_key: int | str | None  # the last key read when more may follow; None when the range is exhausted


def activations(account_id: str, keys: KeyRange[int], where: Condition | None, limit: int,
                newest_first: bool = True) -> Page[Activation]:
    if keys.low > keys.high:
        return Page([], None)
    results = Activation.by_account.query(
        account_id, range_key_condition=Activation.activation_id.between(keys.low, keys.high),
        filter_condition=where, scan_index_forward=not newest_first, page_size=limit)
    return _one_page(Activation, results, "activation_id")


def ledger(account_id: str, keys: KeyRange[int], where: Condition | None, limit: int,
           newest_first: bool = True) -> Page[LedgerEntry]:
    if keys.low > keys.high:
        return Page([], None)
    results = LedgerEntry.query(account_id, range_key_condition=LedgerEntry.seq.between(keys.low, keys.high),
                                filter_condition=where, scan_index_forward=not newest_first, page_size=limit)
    return _one_page(LedgerEntry, results, "seq")


def activity(account_id: str, keys: KeyRange[str], where: Condition | None, limit: int) -> Page[ActivityEntry]:
    if keys.low > keys.high:
        return Page([], None)
    results = ActivityEntry.query(account_id, range_key_condition=ActivityEntry.sort_key.between(keys.low, keys.high),
                                  filter_condition=where, scan_index_forward=False, page_size=limit)
    return _one_page(ActivityEntry, results, "sort_key")


def _one_page(model: type[M], results: ResultIterator[M], key_name: str) -> Page[M]:
    """Exactly one DynamoDB Query call (PynamoDB's iterator would keep reading until a filter is satisfied)."""
    page: dict[str, Any] = next(results.page_iter)
    items = [model.from_raw_data(raw) for raw in page.get("Items", [])]
    last = results.page_iter.last_evaluated_key
    if not last:
        return Page(items, None)
    value = last[key_name]
    return Page(items, int(value["N"]) if "N" in value else str(value["S"]))
