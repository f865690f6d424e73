"""The account's activity log (agreement 11.1): what happened, from which IP, when; entries expire by TTL."""
from __future__ import annotations

import enum
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.config import get_settings
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.store import activity_repo
from chalicelib.store.activity_repo import ActivityEntry

MAX_PAGE = 100
_SORT_KEY = re.compile(r"^\d{13}#[0-9a-f]{8}$")


class ActivityKind(str, enum.Enum):
    """What this area records; other areas may record their own kinds as plain strings."""

    REGISTERED = "registered"
    EMAIL_VERIFIED = "email_verified"
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    PASSWORD_RESET = "password_reset"  # noqa: S105  (an event name, not a secret)
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    UNAUTHORIZED_ACCESS_REPORTED = "unauthorized_access_reported"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    AGREEMENT_ACCEPTED = "agreement_accepted"
    WEBHOOK_CHANGED = "webhook_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  (an event name, not a secret)
    SESSION_REVOKED = "session_revoked"
    REGISTRATION_ATTEMPTED = "registration_attempted"  # someone tried to register this account's email
    TWO_FACTOR_ENABLED = "two_factor_enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    RECOVERY_CODE_USED = "recovery_code_used"


@dataclass(frozen=True)
class ActivityPage:
    entries: list[ActivityEntry]
    next_before: str | None  # pass as `before` for the next (older) page


def record_activity(account_id: str, kind: str, ip: str | None, detail: Mapping[str, object] | None = None, *,
                    clock: Clock, retention_days: int | None = None) -> ActivityEntry:
    """Append an entry to the account's log; it expires after `retention_days` (default: the settings')."""
    entry = activity_entry(account_id, kind, ip, detail, now=clock.now(),
                           retention_days=retention_days)
    activity_repo.add(entry)
    return entry


def activity_entry(account_id: str, kind: str, ip: str | None, detail: Mapping[str, object] | None = None, *,
                   now: float, retention_days: int | None = None) -> ActivityEntry:
    """The entry, unsaved: for `activity_repo.adding(entry)` in the transaction of what it records."""
    days = get_settings().activity_retention_days if retention_days is None else retention_days
    return ActivityEntry(account_id, f"{int(now * 1000):013d}#{secrets.token_hex(4)}",
                         kind=kind.value if isinstance(kind, ActivityKind) else kind, ip=ip,
                         detail=json.dumps(dict(detail), sort_keys=True) if detail else None, created_at=now,
                         expires_at=now + days * 86400)


def list_activity(account_id: str, *, limit: int = 50, before: str | None = None,
                  clock: Clock) -> ActivityPage:
    """Newest first; entries past their TTL are hidden even before DynamoDB deletes them."""
    if before is not None and not _SORT_KEY.match(before):
        raise InvalidInput("'before' is not a cursor this API gave out.", details={"field": "before"})
    now = clock.now()
    entries, more_stored = activity_repo.page(account_id, before=before, limit=min(limit, MAX_PAGE))
    more = more_stored and len(entries) == min(limit, MAX_PAGE)
    visible = [e for e in entries if e.expires_at > now]
    return ActivityPage(entries=visible, next_before=entries[-1].sort_key if more and entries else None)


def detail_of(entry: ActivityEntry) -> dict[str, object]:
    return dict(json.loads(entry.detail)) if entry.detail else {}
