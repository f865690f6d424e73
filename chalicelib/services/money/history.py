"""An account's histories (activations, ledger, activity) a page at a time, with filters, behind opaque cursors;
and its recent money through cards (`payment_history`: top-ups, card refunds, disputes, refund requests).

Key conditions do the heavy lifting: an activation's id grows with its creation time (domain.ids), so a date range
on activations is a range of ids; the activity log's sort key starts with the time; the ledger's key is its
sequence. The other filters (status, service, country, kind, and the ledger's dates) are FilterExpressions inside
that key range, which is why a page may come back short, even empty, with a `next_cursor` (store/history.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from chalicelib.domain.clock import iso
from chalicelib.domain.history_cursor import decode_cursor, encode_cursor
from chalicelib.domain.ids import numeric_id_at
from chalicelib.domain.payments import PaymentRecord, RefundRequest, TopUp
from chalicelib.store import history as history_store
from chalicelib.store import payment_repo
from chalicelib.store.history import KeyRange
from chalicelib.store.money import Entry, seal_ledger

MAX_PAGE = 100
EXPORT_MAX_ROWS = 5000  # rows in one CSV body; past it the export hands back a cursor to continue from
_MAX_NUMBER = (1 << 63) - 1
_TIME_KEY_END = "~"  # sorts after "#<hex>": the upper end of a millisecond's activity keys

T = TypeVar("T")


@dataclass(frozen=True)
class HistoryFilter:
    status: str | None = None
    service: str | None = None
    country: int | None = None
    kind: str | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive


@dataclass(frozen=True)
class HistoryPage:
    items: list[Any]
    last_key: int | str | None  # the position the next page starts after (legacy before/before_seq)
    next_cursor: str | None


def activations_page(account_id: str, wanted: HistoryFilter, limit: int, cursor: str | None, *,
                     newest_first: bool = True) -> HistoryPage:
    low = numeric_id_at(wanted.since) if wanted.since is not None else 0
    high = numeric_id_at(wanted.until) - 1 if wanted.until is not None else _MAX_NUMBER
    after = _after(cursor, account_id, "activations")
    if isinstance(after, int) and newest_first:
        high = min(high, after - 1)
    elif isinstance(after, int):
        low = max(low, after + 1)
    page = history_store.activations(account_id, KeyRange(low, high), limit, newest_first, status=wanted.status,
                                     service=wanted.service, country=wanted.country)
    return _page(account_id, "activations", page)


def ledger_page(account_id: str, wanted: HistoryFilter, limit: int, cursor: str | None,
                before_seq: int | None = None, *, newest_first: bool = True) -> HistoryPage:
    sealed = seal_ledger(account_id)  # read-free postings leave balance_after to the first reader: up to what it sealed
    low, high = 1, min(before_seq - 1 if before_seq else _MAX_NUMBER, sealed or _MAX_NUMBER)
    after = _after(cursor, account_id, "ledger")
    if isinstance(after, int) and newest_first:
        high = min(high, after - 1)
    elif isinstance(after, int):
        low = after + 1
    page = history_store.ledger(account_id, KeyRange(low, high), limit, newest_first, kind=wanted.kind,
                                since=wanted.since, until=wanted.until)
    return _page(account_id, "ledger", page)


def activity_page(account_id: str, wanted: HistoryFilter, limit: int, cursor: str | None, now: float,
                  before: str | None = None) -> HistoryPage:
    """Newest first; entries past their TTL are hidden even before DynamoDB deletes them."""
    low = _time_key(wanted.since) if wanted.since is not None else "0"
    high = _just_below(_time_key(wanted.until)) if wanted.until is not None else _TIME_KEY_END
    for bound in (before, _after(cursor, account_id, "activity")):
        if isinstance(bound, str):
            high = min(high, _just_below(bound))
    page = history_store.activity(account_id, KeyRange(low, high), limit, kind=wanted.kind)
    visible = [e for e in page.items if e.expires_at is None or e.expires_at.timestamp() > now]
    return _page(account_id, "activity", history_store.Page(visible, page.last_key))


def export_rows(read: Callable[[str | None], HistoryPage], row: Callable[[T], list[Any]],
                cursor: str | None) -> tuple[list[list[Any]], str | None]:
    """Up to EXPORT_MAX_ROWS rows read page by page from `cursor` on, and the cursor to continue from (None at
    the end). Bounded so the body fits one Lambda response (6 MB), which cannot be streamed."""
    rows: list[list[Any]] = []
    while True:
        page = read(cursor)
        rows.extend(row(item) for item in page.items)
        cursor = page.next_cursor
        if cursor is None or len(rows) + MAX_PAGE > EXPORT_MAX_ROWS:
            return rows, cursor


def window(read: Callable[[str | None], HistoryPage], offset: int, limit: int) -> tuple[list[Any], bool]:
    """Rows `offset`..`offset + limit` of a history (5sim's offset paging) and whether more may follow: every row
    before the window is read, page by page, so the caller bounds `offset`."""
    taken: list[Any] = []
    cursor: str | None = None
    while len(taken) <= offset + limit:
        page = read(cursor)
        taken.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return taken[offset:offset + limit], len(taken) > offset + limit or cursor is not None


def _page(account_id: str, history: str, page: history_store.Page[Any]) -> HistoryPage:
    cursor = encode_cursor(account_id, history, page.last_key) if page.last_key is not None else None
    return HistoryPage(page.items, page.last_key, cursor)


def _after(cursor: str | None, account_id: str, history: str) -> int | str | None:
    return decode_cursor(cursor, account_id, history) if cursor else None


def _time_key(ts: float) -> str:
    return f"{max(0, int(ts * 1000)):013d}"


def _just_below(key: str) -> str:
    """The greatest string below `key` that any activity sort key (fixed length, [0-9a-f#]) can sit under."""
    return key[:-1] + chr(ord(key[-1]) - 1) + _TIME_KEY_END if key else ""


def parse_day_or_time(raw: str) -> float:
    """`2026-12-05` (midnight UTC) or an ISO 8601 time with a zone → epoch seconds; ValueError otherwise."""
    if len(raw) > 40 or not raw.isascii():
        raise ValueError(raw)
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        if len(raw) != len("2026-12-05"):
            raise ValueError(raw)  # a time without a zone is ambiguous
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def ledger_entry_json(entry: Entry) -> dict[str, Any]:
    """A ledger entry as users (GET /v1/ledger) and operators (bin/admin show) see it (sealed: balance after known)."""
    return {"entry_id": entry.entry_id, "seq": entry.seq, "amount_cents": entry.amount_cents,
            "balance_after_cents": entry.balance_after_cents, "kind": entry.kind.value, "cause_id": entry.cause_id,
            "memo": entry.memo, "created_at": iso(entry.created_at)}


@dataclass(frozen=True)
class PaymentHistory:
    top_ups: list[TopUp]
    records: list[PaymentRecord]  # card refunds, refund payouts, disputes
    refund_requests: list[RefundRequest]


def payment_history(account_id: str, limit: int = 100) -> PaymentHistory:
    """The account's recent money through cards, each list newest first."""
    return PaymentHistory(top_ups=payment_repo.recent_topups(account_id, limit),
                          records=payment_repo.recent_records(account_id, limit),
                          refund_requests=payment_repo.requests_of_account(account_id, limit))
