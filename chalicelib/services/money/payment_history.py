"""The payments page a page at a time: top-ups, refunds and disputes on cards, and refund requests, merged newest
first behind one opaque cursor, with filters (type, status, dates). Three sources, each read by its own index.

Each page asks each source it needs for one Query of at most `limit` rows below the cursor. A source that has more
stopped at some millisecond (its frontier); everything newer than the highest frontier has been read from every
source, so only those rows are merged and returned, and the next cursor is where the page stops. A page never
splits one millisecond (rows of one account in one millisecond are read together), so it may be short, even empty
with a cursor; stop when `next_cursor` is null.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.history_cursor import decode_cursor, encode_cursor
from chalicelib.domain.payments import PaymentRecord, RefundRequest, RefundStatus, TopUp, TopUpStatus
from chalicelib.services.money.history import HistoryPage
from chalicelib.store import payment_repo

TOP_UP = "top_up"
REFUND_REQUEST = "refund_request"
RECORD_KINDS = frozenset({LedgerKind.CARD_REFUND.value, LedgerKind.REFUND_PAYOUT.value, LedgerKind.DISPUTE.value,
                          LedgerKind.DISPUTE_REVERSAL.value, LedgerKind.REFUND_REVERSAL.value})
PAYMENT_TYPES = frozenset({TOP_UP, REFUND_REQUEST, *RECORD_KINDS})
PAYMENT_STATUSES = frozenset({*(s.value for s in TopUpStatus), *(s.value for s in RefundStatus)})
_HISTORY = "payments"
_NO_END_MS = 10 ** 13 - 1  # 13 digits of milliseconds: past any time a row can have


@dataclass(frozen=True)
class PaymentFilter:
    type: str | None = None  # one of PAYMENT_TYPES
    status: str | None = None  # a top-up's or refund request's status (records have none)
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive


@dataclass(frozen=True)
class PaymentRow:
    type: str
    created_ms: int
    item: TopUp | RefundRequest | PaymentRecord


@dataclass(frozen=True)
class _SourcePage:
    rows: list[PaymentRow]
    frontier_ms: int | None  # the millisecond the Query stopped at when the source has more; None when read out


def payments_page(account_id: str, wanted: PaymentFilter, limit: int, cursor: str | None) -> HistoryPage:
    """One page (PaymentRow items, newest first) and the cursor of the next; at most one Query per source."""
    below_ms = _NO_END_MS + 1
    if cursor:
        after = decode_cursor(cursor, account_id, _HISTORY)
        if isinstance(after, int):
            below_ms = after
    low_ms = int(wanted.since * 1000) if wanted.since is not None else 0
    if wanted.until is not None:
        below_ms = min(below_ms, _ceil_ms(wanted.until))
    pages = ([read(account_id, wanted, low_ms, below_ms, limit) for read in _sources(wanted)]
             if low_ms < below_ms else [])
    frontiers = [p.frontier_ms for p in pages if p.frontier_ms is not None]
    floor_ms = max(frontiers) if frontiers else None
    known = sorted((r for p in pages for r in p.rows
                    if low_ms <= r.created_ms < below_ms and (floor_ms is None or r.created_ms > floor_ms)),
                   key=lambda r: (r.created_ms, r.type, _id_of(r)), reverse=True)
    taken = _whole_milliseconds(known, limit)
    if len(taken) < len(known):
        next_ms: int | None = taken[-1].created_ms
    else:
        next_ms = floor_ms + 1 if floor_ms is not None else None
    next_cursor = encode_cursor(account_id, _HISTORY, next_ms) if next_ms is not None else None
    return HistoryPage(taken, next_ms, next_cursor)


def _whole_milliseconds(rows: list[PaymentRow], limit: int) -> list[PaymentRow]:
    """The first `limit` rows, cut back so the rows of one millisecond stay together (the next page starts below
    the last one); one millisecond holding more than `limit` rows is taken whole rather than never."""
    if len(rows) <= limit:
        return rows
    cut = limit
    while cut > 0 and rows[cut].created_ms == rows[cut - 1].created_ms:
        cut -= 1
    if cut == 0:
        cut = limit
        while cut < len(rows) and rows[cut].created_ms == rows[cut - 1].created_ms:
            cut += 1
    return rows[:cut]


def _sources(wanted: PaymentFilter) -> Iterator[Any]:
    if wanted.type in (None, TOP_UP):
        yield _top_ups
    if wanted.type in (None, REFUND_REQUEST):
        yield _refund_requests
    if wanted.status is None and (wanted.type is None or wanted.type in RECORD_KINDS):
        yield _records


def _top_ups(account_id: str, wanted: PaymentFilter, low_ms: int, below_ms: int, limit: int) -> _SourcePage:
    read = payment_repo.topups_between(account_id, wanted.status, low_ms, below_ms, limit)
    return _SourcePage([PaymentRow(TOP_UP, int(t.created_at * 1000), t) for t in read.items], read.frontier_ms)


def _refund_requests(account_id: str, wanted: PaymentFilter, low_ms: int, below_ms: int, limit: int) -> _SourcePage:
    read = payment_repo.requests_between(account_id, wanted.status, low_ms, below_ms, limit)
    return _SourcePage([PaymentRow(REFUND_REQUEST, int(r.created_at * 1000), r) for r in read.items],
                       read.frontier_ms)


def _records(account_id: str, wanted: PaymentFilter, low_ms: int, below_ms: int, limit: int) -> _SourcePage:
    read = payment_repo.records_between(account_id, wanted.type, low_ms, below_ms, limit)
    return _SourcePage([PaymentRow(r.kind, int(r.created_at * 1000), r) for r in read.items], read.frontier_ms)


def _ceil_ms(seconds: float) -> int:
    return -int(-seconds * 1000 // 1)


def _id_of(row: PaymentRow) -> str:
    item = row.item
    if isinstance(item, TopUp):
        return item.topup_id
    if isinstance(item, RefundRequest):
        return item.request_id
    return item.record_key
