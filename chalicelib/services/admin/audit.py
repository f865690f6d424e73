"""The admin audit trail: who did what, when, why, with the state before and after; entries are never changed."""
from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import Clock, iso
from chalicelib.store import audit_repo
from chalicelib.store.audit_repo import AuditEntry
from chalicelib.store.base import JoinedWrite

_SEQUENCE = itertools.count()
SYSTEM = "system"  # the subject of actions that concern no single account (maintenance, prices)


@dataclass(frozen=True)
class AuditRecord:
    """One audited action, built before the action commits so it can join the action's own transaction."""

    subject: str
    action: str
    actor: str
    reason: str | None = None
    before: Any = None
    after: Any = None


class AuditLog:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def entry(self, record: AuditRecord) -> AuditEntry:
        """The unsaved entry, for `audit_repo.adding(entry)` inside the transaction that makes the change."""
        now = self.clock.now()
        # Millisecond time, then this process's sequence, keep a subject's entries in order; the random tail
        # keeps keys of two processes acting in the same millisecond apart.
        sort_key = f"{int(now * 1000):013d}#{next(_SEQUENCE):09d}#{secrets.token_hex(4)}"
        return AuditEntry(record.subject, sort_key, action=record.action, actor=record.actor,
                          reason=record.reason, before=_json_or_none(record.before),
                          after=_json_or_none(record.after), created_at=now)

    def record(self, record: AuditRecord) -> AuditEntry:
        """Write the entry on its own (for actions that are not a single transaction)."""
        entry = self.entry(record)
        audit_repo.add(entry)
        return entry

    def joining(self, record: AuditRecord) -> JoinedWrite:
        """An `extra=` write for Wallet.post (or store.transaction.commit): the entry commits with the change or not
        at all."""
        return audit_repo.adding(self.entry(record))

    def for_subject(self, subject: str, limit: int = 200) -> list[dict[str, Any]]:
        """The newest entries about an account (or SYSTEM), newest first."""
        return [describe(e) for e in audit_repo.newest(subject, limit)]


def describe(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.created_at), "action": entry.action, "actor": entry.actor, "reason": entry.reason,
        "before": _loads(entry.before), "after": _loads(entry.after), "subject": entry.subject,
    }


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _loads(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)
