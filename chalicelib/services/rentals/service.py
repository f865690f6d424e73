"""Rentals as every adapter sees them (REST v1, the SMS-Activate handler's rent actions, 5sim hosting, the jobs).

Renting: validate, price from the partners (cheapest renting partner, our markup), debit and create the rental
PENDING in one transaction, then ask partners cheapest first (a fallback only at no more than the price charged);
no number → FAILED and the debit reversed; a crash in between leaves a PENDING rental the upkeep job refunds.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account, LedgerKind
from chalicelib.domain.catalog_data import country_by_id, service_by_code
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import (
    AlreadyApplied,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NoNumbers,
    PartnerError,
    PriceAboveMax,
)
from chalicelib.domain.ids import new_numeric_id
from chalicelib.domain.rental_state import (
    ANY_SERVICE,
    MAX_LIST_LIMIT,
    MAX_RENT_HOURS,
    RentalEvent,
    RentalStatus,
    RentRequest,
    cancel_refusal,
    validate_hours,
)
from chalicelib.observability import logger
from chalicelib.providers.base import Partner
from chalicelib.providers.rentals import RentalPartner
from chalicelib.services.accounts.registration import require_can_spend
from chalicelib.services.activations.catalog import MAX_PRICE_CENTS
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform import idempotency
from chalicelib.services.rentals.book import HOUR, RentalBook, charge_cause
from chalicelib.services.rentals.inbox import RentalInbox, SmsSource
from chalicelib.services.rentals.pricing import PARTNER_ERRORS, RentPricing, RentQuote
from chalicelib.services.rentals.upkeep import RentalUpkeep
from chalicelib.store import rentals as store
from chalicelib.store.money import CommitRefused, funds_of
from chalicelib.store.rentals import PENDING_KEY, Rental

_OPERATOR = re.compile(r"[a-z0-9_]{1,32}")
_ID_DRAWS = 5


class Rentals:
    def __init__(self, settings: Settings, partners: Sequence[Partner], clock: Clock, *, wallet: Wallet) -> None:
        from chalicelib.services.activations.catalog import Catalog  # the markup: the catalog's runtime setting
        from chalicelib.services.activations.delivery_memory import DeliveryMemory

        catalog = Catalog(settings, partners, clock, DeliveryMemory(settings, clock))
        rates = {p.name: p.rate_to_base for p in settings.partners}
        self.settings = settings
        self.clock = clock
        self.pricing = RentPricing(partners, rates, clock, catalog.markup_percent)
        self.book = RentalBook(clock, wallet)
        self.inbox = RentalInbox(settings, clock)
        self.wallet = wallet
        self.upkeep = RentalUpkeep(settings, clock, self.book, self.inbox, self.pricing)
        self.push_urls = {p.name: f"{settings.public_base_url}/v1/partners/{p.name}/push"
                          for p in settings.partners if p.push_secret}

    # Prices ------------------------------------------------------------------------------------------------
    def prices(self, country: int, hours: int, operator: str | None = None) -> dict[str, RentQuote]:
        _check_place(country, operator)
        validate_hours(hours)
        return self.pricing.price_list(country, hours, operator)

    # Users -------------------------------------------------------------------------------------------------
    def rent(self, account: Account, request: RentRequest, idempotency_key: str | None = None) -> Rental:
        """An ACTIVE rental with a number, or a FAILED one refunded; raises before any debit on bad input.

        With an Idempotency-Key, a retry of the same rent (after a lost answer) gets the first rental back instead of
        renting and charging again; the key is kept a day."""
        _validate(request)
        idempotency.check_key(idempotency_key)
        require_can_spend(account)
        claim_key = idempotency.claim_key("rent", account.account_id, idempotency_key)
        replay = self._replay(claim_key, request)
        if replay is not None:
            return replay
        quotes = self.pricing.quotes(request.service, request.country, request.hours, request.operator)
        if not quotes:
            raise NoNumbers("No numbers to rent for this service and country right now; try another or later.")
        price = quotes[0].price_cents
        if request.max_price_cents is not None and price > request.max_price_cents:
            raise PriceAboveMax(f"Renting costs {price} cents, above your maximum.",
                                details={"min_price_cents": price})
        try:
            rental = self._debit(account, request, price, claim_key)
        except (TransactWriteError, CommitRefused):
            replay = self._replay(claim_key, request)  # the same key won a race a moment ago
            if replay is None:
                raise
            return replay
        return self._acquire(rental, request, [quotes[0], *(q for q in quotes[1:] if q.cost_cents <= price)])

    def get(self, account_id: str, rental_id: int) -> Rental:
        """The rental, first asking its partner for new SMS when it was not asked a moment ago."""
        rental = self.book.load_for_account(account_id, rental_id)
        partner = self.pricing.partner(rental.partner or "")
        if partner is None or not self.inbox.claim_look(rental):
            return rental
        return self.inbox.refresh(rental, partner, SmsSource.ON_DEMAND)

    def list_for_account(self, account_id: str, limit: int = 50, before_id: int | None = None) -> list[Rental]:
        return store.for_account(account_id, max(1, min(limit, MAX_LIST_LIMIT)), before_id)

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
        except (TransactWriteError, CommitRefused, AlreadyApplied):
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
        except UpdateError:
            # Only the upkeep job moves a pending extension, and only after PENDING_RESOLVE_AFTER_SECONDS: it was
            # refunded while the partner took that long to answer.
            raise Conflict("The extension took too long and was refunded; try again.", code="EXTENSION_FAILED") \
                from None

    def finish(self, account_id: str, rental_id: int) -> Rental:
        """End it now (no refund); the partner is told, and a partner that cannot be reached ends it at its time."""
        finished = self.book.apply(self.book.load_for_account(account_id, rental_id), RentalEvent.USER_FINISH)
        self._tell(finished.partner, finished.partner_rent_id, finish=True)
        return finished

    def cancel(self, account_id: str, rental_id: int) -> Rental:
        """Cancel with a full refund: only in the cancel window and before any SMS (the partner is asked first
        whether an SMS arrived)."""
        rental = self.book.load_for_account(account_id, rental_id)
        self.book.judge(rental, RentalEvent.USER_CANCEL)
        self._refuse_cancel_if_late(rental)
        partner = self.pricing.partner(rental.partner or "")
        if partner is not None:
            rental = self.inbox.refresh(rental, partner, SmsSource.ON_DEMAND)
            self._refuse_cancel_if_late(rental)
        canceled = self.book.apply(rental, RentalEvent.USER_CANCEL)
        self._tell(canceled.partner, canceled.partner_rent_id, finish=False)
        return canceled

    # Partners ----------------------------------------------------------------------------------------------
    def record_push(self, partner: str, partner_rent_id: str, text: str, sender: str | None, date: str | None) -> None:
        from chalicelib.providers.rentals import RentSms
        from chalicelib.services.rentals.inbox import find

        self.inbox.record(find(partner, partner_rent_id), RentSms(text, sender, date), SmsSource.PUSH)

    # Internals ---------------------------------------------------------------------------------------------
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
                        operator=request.operator or "any", status=RentalStatus.PENDING.value, hours=request.hours,
                        paid_cents=price, extensions=0, created_at=now, ends_at=now + request.hours * HOUR,
                        active_key=store.active_key(PENDING_KEY, rental_id, self.settings.write_shards),
                        sms_count=0, has_sms=False, version=0)

        def create(tx: TransactWrite) -> None:
            tx.save(rental, condition=Rental.rental_id.does_not_exist())
            idempotency.claiming(claim_key, [rental_id], str(request), now)(tx)

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
                                                               "rental_id": int(rental.rental_id)})
                continue
            changes = {"phone": number.phone, "partner": quote.partner, "partner_rent_id": number.partner_rent_id,
                       "partner_ref": store.partner_ref(quote.partner, number.partner_rent_id),
                       "cost_cents": quote.cost_cents, "last_checked_at": self.clock.now(),
                       "ends_at": self.clock.now() + request.hours * HOUR,
                       "active_key": store.active_key(quote.partner, int(rental.rental_id), self.settings.write_shards)}
            try:
                return self.book.apply(rental, RentalEvent.NUMBER_ISSUED, changes, only_from=RentalStatus.PENDING)
            except IllegalTransition:
                self._tell(quote.partner, number.partner_rent_id, finish=False)  # the upkeep job refunded it
                return self.book.load(int(rental.rental_id))
        try:
            return self.book.apply(rental, RentalEvent.PARTNER_FAILED, only_from=RentalStatus.PENDING)
        except IllegalTransition:
            return self.book.load(int(rental.rental_id))

    def _open_rental(self, account_id: str, rental_id: int, hours: int) -> tuple[Rental, RentalPartner]:
        validate_hours(hours)
        rental = self.book.load_for_account(account_id, rental_id)
        self.book.judge(rental, RentalEvent.USER_FINISH)
        if int(rental.hours) + hours > MAX_RENT_HOURS:
            raise InvalidInput(f"A rental lasts at most {MAX_RENT_HOURS} hours in all; this one has "
                               f"{int(rental.hours)}.", code="INVALID_TIME", details={"field": "hours"})
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
        refusal = cancel_refusal(created_at=float(rental.created_at), now=self.clock.now(), window_seconds=window,
                                 has_sms=bool(rental.has_sms))
        if refusal is not None:
            raise IllegalTransition(refusal, code="CANT_CANCEL", details={"status": rental.status})

    def _tell(self, partner_name: str | None, partner_rent_id: str | None, *, finish: bool) -> None:
        partner = self.pricing.partner(partner_name or "")
        if partner is None or not partner_rent_id:
            return
        try:
            (partner.finish if finish else partner.cancel)(partner_rent_id)
        except PARTNER_ERRORS as exc:
            # The partner ends it at its own end time anyway; only our cost is at stake, never the user's money.
            logger.warning("partner not told the rental ended", extra={"partner": partner_name, "finish": finish,
                                                                        "error": str(exc)})


def _check_place(country: int, operator: str | None) -> None:
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
    _check_place(request.country, request.operator)
    validate_hours(request.hours)
    if request.max_price_cents is not None and not 1 <= request.max_price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput(f"'max_price_cents' must be from 1 to {MAX_PRICE_CENTS}.",
                           details={"field": "max_price_cents"})
