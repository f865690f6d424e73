"""The admin audit trail (store/runtime.py `AuditEntry`) as values: entries are written once and never changed."""
from __future__ import annotations

from dataclasses import dataclass

from pynamodb.transactions import TransactWrite

from chalicelib.store import runtime as rows
from chalicelib.store.base import JoinedWrite


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


def _row(entry: AuditEntry) -> rows.AuditEntry:
    return rows.AuditEntry(entry.subject, entry.sort_key, action=entry.action, actor=entry.actor, reason=entry.reason,
                           before=entry.before, after=entry.after, created_at=entry.created_at)


def add(entry: AuditEntry) -> None:
    _row(entry).save()


def adding(entry: AuditEntry) -> JoinedWrite:
    """`add` as a write of the transaction that makes the change (store.transaction.commit or the Wallet's)."""
    row = _row(entry)

    def write(tx: TransactWrite) -> None:
        tx.save(row)

    return write


def newest(subject: str, limit: int) -> list[AuditEntry]:
    return [AuditEntry(subject=row.subject, sort_key=row.sort_key, action=row.action, actor=row.actor,
                       created_at=float(row.created_at), reason=row.reason, before=row.before, after=row.after)
            for row in rows.AuditEntry.query(subject, scan_index_forward=False, limit=limit)]
