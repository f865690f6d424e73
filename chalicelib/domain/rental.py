"""A rental and the SMS it received as services and adapters see them: plain values (the rows stay in the store).

Field names are the rows' attribute names, so adapters read either; the types are the domain's (ints for cents, ids
and counts, a status enum). Made by chalicelib/store/rental_repo.py; the moves are domain/rental_state.py's.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.rental_state import RentalStatus


@dataclass(frozen=True)
class PendingExtension:
    """An extension paid for and not yet confirmed by the partner: while it is set nothing else may change the
    rental, so a crash leaves exactly this to settle."""

    number: int  # n of the charge's cause "<rental id>:<n>"
    hours: int
    price_cents: int
    started_at: float


@dataclass(frozen=True)
class Rental:
    rental_id: int
    account_id: str
    service: str  # a service code, or domain.rental_state.ANY_SERVICE
    country: int
    operator: str
    status: RentalStatus
    hours: int  # the whole duration bought so far (extensions included)
    paid_cents: int  # everything charged and kept so far (the rent and confirmed extensions)
    created_at: float
    ends_at: float
    extensions: int = 0  # extensions confirmed; the next one's charge cause is n+1
    pending_extension: PendingExtension | None = None
    cost_cents: int | None = None  # what the partner charges us for the rent, in our cents
    phone: str | None = None
    partner: str | None = None
    partner_rent_id: str | None = None
    partner_ref: str | None = None
    active_key: str | None = None  # set while it can still change (the active index's key)
    sms_count: int = 0
    has_sms: bool = False
    last_checked_at: float | None = None  # last on-demand question to the partner (its rate limit)
    version: int = 0  # bumped by every change: the compare-and-set guard


@dataclass(frozen=True)
class RentalSms:
    """One SMS a rental received, in arrival order (seq 1, 2, 3… per rental)."""

    rental_id: int
    seq: int
    text: str
    received_at: float
    source: str  # push | on_demand | poll
    code: str | None = None
    sender: str | None = None
    partner_date: str | None = None
