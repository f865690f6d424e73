"""Rentals as every adapter sees them (REST v1, the SMS-Activate handler's rent actions, 5sim hosting, the jobs).

It composes renting (renting.py), the book of every write (book.py), the SMS inbox (inbox.py) and the scheduled
upkeep (upkeep.py), all built by chalicelib/wiring.py, and adds the user operations that need several of them
(an extension charges, asks the partner and keeps or refunds; a cancel asks the partner for SMS first).
"""
from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AlreadyApplied, Conflict, IllegalTransition, InvalidInput, PartnerError
from chalicelib.domain.rental import Rental
from chalicelib.domain.rental_state import (
    MAX_LIST_LIMIT,
    MAX_RENT_HOURS,
    RentalEvent,
    RentRequest,
    cancel_refusal,
    validate_hours,
)
from chalicelib.observability import logger
from chalicelib.providers.rentals import RentalPartner
from chalicelib.services.rentals.book import RentalBook
from chalicelib.services.rentals.inbox import RentalInbox, SmsSource
from chalicelib.services.rentals.pricing import PARTNER_ERRORS, RentPricing, RentQuote
from chalicelib.services.rentals.renting import Renting, check_place
from chalicelib.services.rentals.upkeep import RentalUpkeep
from chalicelib.store import rental_repo
from chalicelib.store.base import WriteRefused


class Rentals:
    def __init__(self, settings: Settings, clock: Clock, *, pricing: RentPricing, book: RentalBook,
                 inbox: RentalInbox, upkeep: RentalUpkeep, renting: Renting) -> None:
        self.settings = settings
        self.clock = clock
        self.pricing = pricing
        self.book = book
        self.inbox = inbox
        self.upkeep = upkeep
        self.renting = renting

    # Prices ------------------------------------------------------------------------------------------------
    def prices(self, country: int, hours: int, operator: str | None = None) -> dict[str, RentQuote]:
        check_place(country, operator)
        validate_hours(hours)
        return self.pricing.price_list(country, hours, operator)

    # Users -------------------------------------------------------------------------------------------------
    def rent(self, account: Account, request: RentRequest, idempotency_key: str | None = None) -> Rental:
        """An ACTIVE rental with a number, or a FAILED one refunded (renting.py)."""
        return self.renting.rent(account, request, idempotency_key)

    def get(self, account_id: str, rental_id: int) -> Rental:
        """The rental, first asking its partner for new SMS when it was not asked a moment ago."""
        rental = self.book.load_for_account(account_id, rental_id)
        partner = self.pricing.partner(rental.partner or "")
        if partner is None or not self.inbox.claim_look(rental):
            return rental
        return self.inbox.refresh(rental, partner, SmsSource.ON_DEMAND)

    def list_for_account(self, account_id: str, limit: int = 50, before_id: int | None = None) -> list[Rental]:
        return rental_repo.for_account(account_id, max(1, min(limit, MAX_LIST_LIMIT)), before_id)

    def extension_price(self, account_id: str, rental_id: int, hours: int) -> int:
        """What extending by `hours` costs the user (the partner's price with our markup)."""
        rental, partner = self._open_rental(account_id, rental_id, hours)
        return self._extension_price(rental, partner, hours)

    def extend(self, account_id: str, rental_id: int, hours: int) -> Rental:
        """Charge the extension, ask the partner, keep the time or give the money back; one extension at a time."""
        rental, partner = self._open_rental(account_id, rental_id, hours)
        price = self._extension_price(rental, partner, hours)
        try:
            rental = self.book.begin_extension(rental, hours, price)
        except (WriteRefused, AlreadyApplied):  # WriteRefused: the wallet's CommitRefused too
            self.book.judge(self.book.load(rental_id), RentalEvent.USER_FINISH)  # explains who won the race
            raise Conflict("The rental changed meanwhile; try again.") from None
        try:
            partner.extend(str(rental.partner_rent_id), hours)
        except PARTNER_ERRORS as exc:
            logger.info("partner refused the extension", extra={"rental_id": rental_id, "error": str(exc)})
            self.book.refund_extension(rental)
            raise PartnerError("The number's provider could not extend it; you were not charged.",
                               code="EXTENSION_FAILED") from exc
        try:
            return self.book.confirm_extension(rental)
        except WriteRefused:
            # Only the upkeep job moves a pending extension, and only after PENDING_RESOLVE_AFTER_SECONDS: it was
            # refunded while the partner took that long to answer.
            raise Conflict("The extension took too long and was refunded; try again.", code="EXTENSION_FAILED") \
                from None

    def finish(self, account_id: str, rental_id: int) -> Rental:
        """End it now (no refund); the partner is told, and a partner that cannot be reached ends it at its time."""
        finished = self.book.apply(self.book.load_for_account(account_id, rental_id), RentalEvent.USER_FINISH)
        self.renting.tell(finished.partner, finished.partner_rent_id, finish=True)
        return finished

    def cancel(self, account_id: str, rental_id: int) -> Rental:
        """Cancel with a full refund: only in the cancel window and before any SMS. The partner is asked first
        whether an SMS arrived, and when it cannot answer the cancel waits (PARTNER_UNAVAILABLE): a full refund is
        never given for a number that may have served its SMS."""
        rental = self.book.load_for_account(account_id, rental_id)
        self.book.judge(rental, RentalEvent.USER_CANCEL)
        self._refuse_cancel_if_late(rental)
        partner = self.pricing.partner(rental.partner or "")
        if partner is not None:
            rental = self.inbox.refresh(rental, partner, SmsSource.ON_DEMAND, must_answer=True)
            self._refuse_cancel_if_late(rental)
        canceled = self.book.apply(rental, RentalEvent.USER_CANCEL)
        self.renting.tell(canceled.partner, canceled.partner_rent_id, finish=False)
        return canceled

    # Partners ----------------------------------------------------------------------------------------------
    def record_push(self, partner: str, partner_rent_id: str, text: str, sender: str | None, date: str | None) -> None:
        from chalicelib.providers.rentals import RentSms
        from chalicelib.services.rentals.inbox import find

        self.inbox.record(find(partner, partner_rent_id), RentSms(text, sender, date), SmsSource.PUSH)

    # Internals ---------------------------------------------------------------------------------------------
    def _open_rental(self, account_id: str, rental_id: int, hours: int) -> tuple[Rental, RentalPartner]:
        validate_hours(hours)
        rental = self.book.load_for_account(account_id, rental_id)
        self.book.judge(rental, RentalEvent.USER_FINISH)
        if rental.hours + hours > MAX_RENT_HOURS:
            raise InvalidInput(f"A rental lasts at most {MAX_RENT_HOURS} hours in all; this one has "
                               f"{rental.hours}.", code="INVALID_TIME", details={"field": "hours"})
        partner = self.pricing.partner(rental.partner or "")
        if partner is None:
            raise PartnerError("The number's provider is not available now; try again later.",
                               code="PARTNER_UNAVAILABLE")
        return rental, partner

    def _extension_price(self, rental: Rental, partner: RentalPartner, hours: int) -> int:
        try:
            cost_minor = partner.extend_price_minor(str(rental.partner_rent_id), hours)
        except PARTNER_ERRORS as exc:
            raise PartnerError("The number's provider cannot extend it now; try again later.",
                               code="EXTENSION_FAILED") from exc
        return self.pricing.price_of(str(rental.partner), cost_minor)[0]

    def _refuse_cancel_if_late(self, rental: Rental) -> None:
        window = self.settings.rental_cancel_window_seconds if self.settings.refunds_enabled else 0
        refusal = cancel_refusal(created_at=rental.created_at, now=self.clock.now(), window_seconds=window,
                                 has_sms=rental.has_sms)
        if refusal is not None:
            raise IllegalTransition(refusal, code="CANT_CANCEL", details={"status": rental.status})
