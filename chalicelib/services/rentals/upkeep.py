"""The rentals' scheduled work: end rentals whose time is over, refund orders and extensions a crash left
unfinished, and poll each renting partner once a cycle for SMS that no push brought.

Polling costs one `getRentList` per renting partner per cycle however many rentals are open; a rental is read
(getRentStatus) only when the list shows it holds more SMS than we have, i.e. once per SMS that no push delivered.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from chalicelib.config import Settings
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AlreadyApplied, Conflict, IllegalTransition
from chalicelib.domain.rental import Rental
from chalicelib.domain.rental_state import RentalEvent, RentalStatus
from chalicelib.observability import logger
from chalicelib.services.rentals.book import RentalBook
from chalicelib.services.rentals.inbox import RentalInbox, SmsSource
from chalicelib.services.rentals.pricing import PARTNER_ERRORS, RentPricing
from chalicelib.store import rental_repo
from chalicelib.store.base import WriteRefused
from chalicelib.store.rental_repo import PENDING_KEY


class RentalUpkeep:
    def __init__(self, settings: Settings, clock: Clock, book: RentalBook, inbox: RentalInbox,
                 pricing: RentPricing) -> None:
        self.settings = settings
        self.clock = clock
        self.book = book
        self.inbox = inbox
        self.pricing = pricing

    def run(self) -> dict[str, int]:
        return {"extensions_refunded": self.refund_stuck_extensions(), "orders_refunded": self.resolve_stale_pending(),
                "expired": self.expire_overdue(), "sms_polled": self.poll()}

    def expire_overdue(self) -> int:
        """ACTIVE rentals past their end become EXPIRED (no refund: the time was sold)."""
        now = self.clock.now()
        due = (r for r in rental_repo.overdue(now) if r.status is RentalStatus.ACTIVE and r.pending_extension is None)
        return _each(due, lambda r: self.book.apply(r, RentalEvent.EXPIRED, only_from=RentalStatus.ACTIVE))

    def resolve_stale_pending(self) -> int:
        """A PENDING rental older than the resolve delay lost its order (a crash): FAILED, refunded once."""
        cutoff = self.clock.now() - self.settings.pending_resolve_after_seconds
        stale = (r for r in rental_repo.open_of(PENDING_KEY, self.settings.write_shards) if r.created_at < cutoff)
        return _each(stale, lambda r: self.book.apply(r, RentalEvent.PARTNER_FAILED, only_from=RentalStatus.PENDING))

    def refund_stuck_extensions(self) -> int:
        """An extension charged and never settled (the process died while the partner was asked): refunded once.
        We cannot know whether the partner extended; the user never pays for time we cannot show them."""
        cutoff = self.clock.now() - self.settings.pending_resolve_after_seconds
        stuck = (r for r in rental_repo.with_pending_extension()
                 if r.pending_extension is not None and r.pending_extension.started_at < cutoff)
        return _each(stuck, self.book.refund_extension)

    def poll(self) -> int:
        """One list call per renting partner; rentals whose SMS count moved are read. The SMS recorded."""
        recorded = 0
        for name, partner in self.pricing.renting:
            try:
                listed = {item.partner_rent_id: item.sms_count for item in partner.listed()}
            except PARTNER_ERRORS as exc:
                logger.warning("rent poll failed", extra={"partner": name, "error": str(exc)})
                continue
            if not listed:
                continue
            for rental in rental_repo.open_of(name, self.settings.write_shards):
                count = listed.get(str(rental.partner_rent_id))
                if count is None or count <= rental.sms_count or rental.status is not RentalStatus.ACTIVE:
                    continue
                recorded += self.inbox.refresh(rental, partner, SmsSource.POLL).sms_count - rental.sms_count
        return recorded


def _each(rentals: Iterable[Rental], end: Callable[[Rental], Rental]) -> int:
    done = 0
    for rental in rentals:
        try:
            end(rental)
            done += 1
        except (IllegalTransition, Conflict, AlreadyApplied, WriteRefused):  # WriteRefused: CommitRefused too
            continue  # another writer settled it first
    return done
