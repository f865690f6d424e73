"""Renting a number: validate, price from the partners (cheapest renting partner, our markup), debit and create the
rental PENDING in one transaction, then ask partners cheapest first (a fallback only at no more than the price
charged); no number → FAILED and the debit reversed; a crash in between leaves a PENDING rental the upkeep job refunds.

With an Idempotency-Key, a retry of the same rent (after a lost answer) gets the first rental back instead of renting
and charging again; the key is kept a day.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account, LedgerKind, require_can_spend
from chalicelib.domain.catalog_data import country_by_id, service_by_code
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AlreadyApplied, Conflict, IllegalTransition, InvalidInput
from chalicelib.domain.ids import new_numeric_id
from chalicelib.domain.money import cheapest_within
from chalicelib.domain.rental import Rental
from chalicelib.domain.rental_state import ANY_SERVICE, RentalEvent, RentalStatus, RentRequest, validate_hours
from chalicelib.observability import logger
from chalicelib.services.activations.price_settings import MAX_PRICE_CENTS
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform import idempotency
from chalicelib.services.rentals.book import HOUR, RentalBook, charge_cause
from chalicelib.services.rentals.pricing import PARTNER_ERRORS, RentPricing, RentQuote
from chalicelib.store import rental_repo
from chalicelib.store.base import joined
from chalicelib.store.money import CommitRefused, funds_of
from chalicelib.store.rental_repo import PENDING_KEY

_OPERATOR = re.compile(r"[a-z0-9_]{1,32}")
_ID_DRAWS = 5


class Renting:
    def __init__(self, settings: Settings, clock: Clock, pricing: RentPricing, book: RentalBook, wallet: Wallet,
                 push_urls: Mapping[str, str]) -> None:
        self.settings = settings
        self.clock = clock
        self.pricing = pricing
        self.book = book
        self.wallet = wallet
        self.push_urls = push_urls  # partner name → where it pushes SMS (partners with a push secret only)

    def rent(self, account: Account, request: RentRequest, idempotency_key: str | None = None) -> Rental:
        """An ACTIVE rental with a number, or a FAILED one refunded; raises before any debit on bad input."""
        _validate(request)
        idempotency.check_key(idempotency_key)
        require_can_spend(account)
        claim_key = idempotency.claim_key("rent", account.account_id, idempotency_key)
        replay = self._replay(claim_key, request)
        if replay is not None:
            return replay
        quotes = self.pricing.quotes(request.service, request.country, request.hours, request.operator)
        price = cheapest_within(
            quotes, request.max_price_cents, above="Renting costs {price} cents, above your maximum.",
            none_left="No numbers to rent for this service and country right now; try another or later.")
        try:
            rental = self._debit(account, request, price, claim_key)
        except CommitRefused:
            replay = self._replay(claim_key, request)  # the same key won a race a moment ago
            if replay is None:
                raise
            return replay
        return self._acquire(rental, request, [quotes[0], *(q for q in quotes[1:] if q.cost_cents <= price)])

    def tell(self, partner_name: str | None, partner_rent_id: str | None, *, finish: bool) -> None:
        """Finish or cancel the rent at its partner; a partner that cannot be reached ends it at its own end time."""
        partner = self.pricing.partner(partner_name or "")
        if partner is None or not partner_rent_id:
            return
        try:
            (partner.finish if finish else partner.cancel)(partner_rent_id)
        except PARTNER_ERRORS as exc:
            # Only our cost is at stake, never the user's money.
            logger.warning("partner not told the rental ended", extra={"partner": partner_name, "finish": finish,
                                                                        "error": str(exc)})

    def _debit(self, account: Account, request: RentRequest, price: int, claim_key: str | None) -> Rental:
        for _ in range(_ID_DRAWS):
            try:
                return self._debit_as(new_numeric_id(), account, request, price, claim_key)
            except AlreadyApplied:
                continue  # the id was drawn by another process in the same millisecond
        raise Conflict("Could not assign a rental id; try again.")

    def _debit_as(self, rental_id: int, account: Account, request: RentRequest, price: int,
                  claim_key: str | None) -> Rental:
        now = self.clock.now()
        rental = Rental(rental_id, account_id=account.account_id, service=request.service, country=request.country,
                        operator=request.operator or "any", status=RentalStatus.PENDING, hours=request.hours,
                        paid_cents=price, extensions=0, created_at=now, ends_at=now + request.hours * HOUR,
                        active_key=rental_repo.active_key(PENDING_KEY, rental_id, self.settings.write_shards))
        create = joined([rental_repo.create_write(rental),
                         idempotency.claiming(claim_key, [rental_id], str(request), now)])
        self.wallet.post(account.account_id, -price, LedgerKind.RENTAL_CHARGE, charge_cause(rental_id),
                         memo=f"rent {request.service}/{request.country} {request.hours} h", require_active=True,
                         extra=create, known=funds_of(account))
        return rental

    def _replay(self, claim_key: str | None, request: RentRequest) -> Rental | None:
        rental_id = idempotency.replayed_id(claim_key, str(request), "rent")
        return None if rental_id is None else self.book.load(rental_id)

    def _acquire(self, rental: Rental, request: RentRequest, candidates: Sequence[RentQuote]) -> Rental:
        for quote in candidates:
            partner = self.pricing.partner(quote.partner)
            if partner is None:
                continue
            try:
                number = partner.rent(request.service, request.country, request.hours, request.operator,
                                      self.push_urls.get(quote.partner))
            except PARTNER_ERRORS as exc:
                logger.info("partner rented no number", extra={"partner": quote.partner, "error": str(exc),
                                                               "rental_id": rental.rental_id})
                continue
            changes = {"phone": number.phone, "partner": quote.partner, "partner_rent_id": number.partner_rent_id,
                       "partner_ref": rental_repo.partner_ref(quote.partner, number.partner_rent_id),
                       "cost_cents": quote.cost_cents, "last_checked_at": self.clock.now(),
                       "ends_at": self.clock.now() + request.hours * HOUR,
                       "active_key": rental_repo.active_key(quote.partner, rental.rental_id,
                                                            self.settings.write_shards)}
            try:
                return self.book.apply(rental, RentalEvent.NUMBER_ISSUED, changes, only_from=RentalStatus.PENDING)
            except IllegalTransition:
                self.tell(quote.partner, number.partner_rent_id, finish=False)  # the upkeep job refunded it
                return self.book.load(rental.rental_id)
        try:
            return self.book.apply(rental, RentalEvent.PARTNER_FAILED, only_from=RentalStatus.PENDING)
        except IllegalTransition:
            return self.book.load(rental.rental_id)


def check_place(country: int, operator: str | None) -> None:
    """InvalidInput unless `country` is one we know and `operator` looks like an operator's name."""
    if country_by_id(country) is None:
        raise InvalidInput(f"Unknown country {country!r}: see GET /v1/countries.", code="BAD_COUNTRY",
                           details={"field": "country"})
    if operator is not None and not _OPERATOR.fullmatch(operator):
        raise InvalidInput("'operator' must be a lower-case operator name such as 'mts', or 'any'.",
                           code="WRONG_OPERATOR", details={"field": "operator"})


def _validate(request: RentRequest) -> None:
    if request.service != ANY_SERVICE and service_by_code(request.service) is None:
        raise InvalidInput(f"Unknown service {request.service!r}: see GET /v1/services, or '{ANY_SERVICE}' for "
                           "every service.", code="BAD_SERVICE", details={"field": "service"})
    check_place(request.country, request.operator)
    validate_hours(request.hours)
    if request.max_price_cents is not None and not 1 <= request.max_price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput(f"'max_price_cents' must be from 1 to {MAX_PRICE_CENTS}.",
                           details={"field": "max_price_cents"})
