"""The account's activity log (store/runtime.py `ActivityEntry`) as values: appended, paged newest first, and the
user's own words overwritten after consent withdrawal."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.transactions import TransactWrite

from chalicelib.store import runtime as rows
from chalicelib.store.base import JoinedWrite


@dataclass(frozen=True)
class ActivityEntry:
    account_id: str
    sort_key: str  # "<ms time>#<random>"
    kind: str
    created_at: float
    expires_at: float
    ip: str | None = None
    detail: str | None = None  # JSON


def _value(row: rows.ActivityEntry) -> ActivityEntry:
    return ActivityEntry(account_id=row.account_id, sort_key=row.sort_key, kind=row.kind,
                         created_at=float(row.created_at), expires_at=row.expires_at.timestamp(), ip=row.ip,
                         detail=row.detail)


def _row(entry: ActivityEntry) -> rows.ActivityEntry:
    return rows.ActivityEntry(entry.account_id, entry.sort_key, kind=entry.kind, ip=entry.ip, detail=entry.detail,
                              created_at=entry.created_at, expires_at=datetime.fromtimestamp(entry.expires_at, tz=UTC))


def add(entry: ActivityEntry) -> None:
    _row(entry).save()


def adding(entry: ActivityEntry) -> JoinedWrite:
    """`add` as a write of the transaction of what it records."""
    row = _row(entry)

    def write(tx: TransactWrite) -> None:
        tx.save(row)

    return write


def page(account_id: str, *, before: str | None, limit: int) -> tuple[list[ActivityEntry], bool]:
    """Up to `limit` entries older than `before` (a sort key), newest first, and whether DynamoDB has more."""
    found = rows.ActivityEntry.query(account_id, scan_index_forward=False, limit=limit,
                                     range_key_condition=rows.ActivityEntry.sort_key < before if before else None)
    entries = [_value(row) for row in found]
    return entries, found.last_evaluated_key is not None


def rewrite_details(account_id: str, rewrite: Callable[[str], str | None]) -> None:
    """Every entry's detail JSON through `rewrite` (None: leave it); one write per changed entry."""
    for row in rows.ActivityEntry.query(account_id):
        changed = rewrite(row.detail) if row.detail else None
        if changed is not None:
            row.update(actions=[rows.ActivityEntry.detail.set(changed)])
