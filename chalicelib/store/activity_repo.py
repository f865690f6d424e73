"""The account's activity log (store/runtime.py `ActivityEntry`) as values: appended, paged newest first, and the
user's own words overwritten after consent withdrawal."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.store import runtime as rows
from chalicelib.store.base import JoinedWrite
from chalicelib.store.transaction import putting
from chalicelib.store.values import row_of, value_of


@dataclass(frozen=True)
class ActivityEntry:
    account_id: str
    sort_key: str  # "<ms time>#<random>"
    kind: str
    created_at: float
    expires_at: float
    ip: str | None = None
    detail: str | None = None  # JSON


def add(entry: ActivityEntry) -> None:
    row_of(rows.ActivityEntry, entry).save()


def adding(entry: ActivityEntry) -> JoinedWrite:
    """`add` as a write of the transaction of what it records."""
    return putting(row_of(rows.ActivityEntry, entry))


def page(account_id: str, *, before: str | None, limit: int) -> tuple[list[ActivityEntry], bool]:
    """Up to `limit` entries older than `before` (a sort key), newest first, and whether DynamoDB has more."""
    found = rows.ActivityEntry.query(account_id, scan_index_forward=False, limit=limit,
                                     range_key_condition=rows.ActivityEntry.sort_key < before if before else None)
    entries = [value_of(ActivityEntry, row) for row in found]
    return entries, found.last_evaluated_key is not None


def rewrite_details(account_id: str, rewrite: Callable[[str], str | None]) -> None:
    """Every entry's detail JSON through `rewrite` (None: leave it); one write per changed entry."""
    for row in rows.ActivityEntry.query(account_id):
        changed = rewrite(row.detail) if row.detail else None
        if changed is not None:
            row.update(actions=[rows.ActivityEntry.detail.set(changed)])
