"""The admin audit trail (store/runtime.py `AuditEntry`) as values: entries are written once and never changed."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.store import runtime as rows
from chalicelib.store.base import JoinedWrite
from chalicelib.store.transaction import putting
from chalicelib.store.values import row_of, value_of


@dataclass(frozen=True)
class AuditEntry:
    subject: str  # account id or "system"
    sort_key: str
    action: str
    actor: str
    created_at: float
    reason: str | None = None
    before: str | None = None  # JSON
    after: str | None = None  # JSON


def add(entry: AuditEntry) -> None:
    row_of(rows.AuditEntry, entry).save()


def adding(entry: AuditEntry) -> JoinedWrite:
    """`add` as a write of the transaction that makes the change (store.transaction.commit or the Wallet's)."""
    return putting(row_of(rows.AuditEntry, entry))


def newest(subject: str, limit: int) -> list[AuditEntry]:
    return [value_of(AuditEntry, row) for row in rows.AuditEntry.query(subject, scan_index_forward=False, limit=limit)]
