"""Ordering a number: validate, debit and create the activation in one transaction, then ask partners.

The user pays the price of the cheapest offer in stock (within their max price); the partners asked are
those that cost us no more than that price, the best recent success rate first, then the cheapest
(Catalog.route), so routing and failover never sell at a loss and never charge more than quoted. No
number from anyone → FAILED and the debit reversed. A crash after the debit leaves a PENDING activation
the resolve job ends.

Numbers marked bad for the service (platform-wide, activations/delivery_memory.py) and the user's own reports
are passed to partners as exclusions; a partner that answers with one anyway has it cancelled and is asked
once more before the next offer: the user is charged once whatever it takes.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account, LedgerKind, require_can_spend
from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_state import ActivationEvent, ActivationStatus
from chalicelib.domain.catalog_data import country_by_id
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import (
    AlreadyApplied,
    Conflict,
    IllegalTransition,
    InvalidInput,
)
from chalicelib.domain.ids import new_numeric_id
from chalicelib.domain.money import cheapest_within, convert_minor
from chalicelib.domain.partner_codes import SERVICE_CODE
from chalicelib.domain.webhook_events import EventType, subscribes
from chalicelib.observability import logger
from chalicelib.providers.base import Partner, PartnerNumber
from chalicelib.services.activations.catalog import Catalog, Quote
from chalicelib.services.activations.lifecycle import PARTNER_ERRORS, Lifecycle
from chalicelib.services.activations.price_settings import MAX_PRICE_CENTS
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform import idempotency
from chalicelib.services.platform.partner_calls import PartnerAction
from chalicelib.store import activation_repo
from chalicelib.store.activation_repo import PENDING_KEY
from chalicelib.store.base import joined
from chalicelib.store.money import CommitRefused, funds_of

_OPERATOR = re.compile(r"[a-z0-9_]{1,32}")
_EXCLUDED_PHONES_LIMIT = 100  # the user's own reports, and as many of the platform's marks, newest first
_ASKS_PER_OFFER = 2  # a partner that answered with an excluded number is asked once more
_ID_DRAWS = 5


@dataclass(frozen=True)
class OrderRequest:
    service: str
    country: int
    operator: str | None = None
    max_price_cents: int | None = None
    exclude_phone_prefixes: tuple[str, ...] = ()  # the handler API's phoneException
    reactivation_of: int | None = None  # another activation on this earlier activation's number (reactivation.py)

    def fingerprint(self) -> str:
        again = f"|again:{self.reactivation_of}" if self.reactivation_of is not None else ""
        return f"{self.service}|{self.country}|{self.operator or 'any'}|{self.max_price_cents}{again}"


class Ordering:
    def __init__(self, settings: Settings, partners: Mapping[str, Partner], clock: Clock, catalog: Catalog,
                 lifecycle: Lifecycle, wallet: Wallet) -> None:
        self.settings = settings
        self.partners = partners
        self.clock = clock
        self.catalog = catalog
        self.lifecycle = lifecycle
        self.wallet = wallet

    def order(self, account: Account, request: OrderRequest, idempotency_key: str | None = None) -> Activation:
        """A WAITING activation with a number, or a FAILED one refunded; raises before any debit on bad input."""
        self.validate(request, idempotency_key)
        require_can_spend(account)
        claim_key = idempotency.claim_key("order", account.account_id, idempotency_key)
        replay = self.replay(claim_key, request)
        if replay is not None:
            return replay
        quotes = self.quotes_within_max(request)
        activation, replayed = self.debit_or_replay(account, request, quotes[0].price_cents, claim_key)
        if replayed:
            return activation
        return self.acquire(account, request, activation, quotes)

    def validate(self, request: OrderRequest, idempotency_key: str | None) -> None:
        """Bad input is refused here, before anything is written: a service no one sells is BAD_SERVICE."""
        _validate(request, idempotency_key)
        if not self.catalog.sells_service(request.service):
            raise InvalidInput(f"Unknown service {request.service!r}: see GET /v1/services.", code="BAD_SERVICE",
                               details={"field": "service"})

    def quotes_within_max(self, request: OrderRequest) -> list[Quote]:
        """The offers that can serve the request, cheapest first; the first one's price is what is charged.
        Raises NoNumbers (none in stock) and PriceAboveMax (above the user's maximum) before any debit."""
        quotes = self.catalog.quote(request.service, request.country, request.operator)
        cheapest_within(quotes, request.max_price_cents,
                        none_left="No numbers for this service and country right now; try another country or later.",
                        above="The cheapest number costs {price} cents, above your maximum.")
        return quotes

    def acquire(self, account: Account, request: OrderRequest, activation: Activation, quotes: Sequence[Quote]
                ) -> Activation:
        """Ask partners for the number of a debited PENDING `activation` priced at quotes[0]: WAITING, or FAILED and
        refunded when no partner at or under that price gives one."""
        candidates = self.catalog.route(quotes, activation.price_cents)
        marked = self.catalog.memory.marked(request.service, request.country)
        excluded = tuple(dict.fromkeys((*self._bad_numbers(account, request.service), *request.exclude_phone_prefixes,
                                        *marked[:_EXCLUDED_PHONES_LIMIT])))
        return self._acquire(activation, request, candidates, excluded, frozenset(marked))

    def debit_or_replay(self, account: Account, request: OrderRequest, price: int, claim_key: str | None
                        ) -> tuple[Activation, bool]:
        """The new PENDING activation, debited; or (True) the one a request with the same key made a moment ago."""
        try:
            return self.debit(account, request, price, claim_key), False
        except CommitRefused:
            replay = self.replay(claim_key, request)  # the same key won a race a moment ago
            if replay is None:
                raise
            return replay, True

    def debit(self, account: Account, request: OrderRequest, price: int, claim_key: str | None) -> Activation:
        for _ in range(_ID_DRAWS):
            try:
                return self._debit_as(new_numeric_id(), account, request, price, claim_key)
            except AlreadyApplied:
                continue  # the id was drawn by another process in the same millisecond: its charge holds the claim
        raise Conflict("Could not assign an order id; try again.")

    def _debit_as(self, activation_id: int, account: Account, request: OrderRequest, price: int,
                  claim_key: str | None) -> Activation:
        now = self.clock.now()
        activation = self.pending(activation_id, account, request, price, claim_key)
        create = joined([activation_repo.create_write(activation),
                         idempotency.claiming(claim_key, [activation_id], request.fingerprint(), now)])
        self.wallet.post(account.account_id, -price, LedgerKind.ACTIVATION_CHARGE, str(activation.activation_id),
                         memo=f"{request.service}/{request.country}", require_active=True, extra=create,
                         known=funds_of(account))
        return activation

    def pending(self, activation_id: int, account: Account, request: OrderRequest, price: int,
                claim_key: str | None = None) -> Activation:
        """A new order before any partner is asked (saved with its debit, in the same transaction)."""
        now = self.clock.now()
        return Activation(activation_id, account_id=account.account_id, service=request.service,
                          country=request.country, operator=request.operator or "any",
                          status=ActivationStatus.PENDING, price_cents=price, created_at=now,
                          expires_at=now + self.settings.activation_lifetime_seconds,
                          active_key=activation_repo.active_key(PENDING_KEY, activation_id, self.settings.write_shards),
                          idempotency_key=claim_key, sms=(), has_sms=False, version=0,
                          reactivation_of=request.reactivation_of,
                          status_hook=subscribes(account, EventType.ACTIVATION_STATUS_CHANGED) or None,
                          balance_hook=subscribes(account, EventType.BALANCE_CHANGED) or None)

    def _acquire(self, activation: Activation, request: OrderRequest, candidates: Sequence[Quote],
                 excluded: Sequence[str], marked: frozenset[str]) -> Activation:
        for quote in candidates:
            partner = self.partners.get(quote.partner)
            if partner is None:
                continue
            number = self._ask(partner, activation, request, quote, excluded, marked)
            if number is not None:
                return self.issue(activation, partner, quote, number)
        return self.fail(activation)

    def _ask(self, partner: Partner, activation: Activation, request: OrderRequest, quote: Quote,
             excluded: Sequence[str], marked: frozenset[str]) -> PartnerNumber | None:
        """A number from this partner that is neither excluded nor marked; None when it has none."""
        for _ in range(_ASKS_PER_OFFER):
            try:
                number = partner.get_number(request.service, request.country, _operator_param(quote.operator),
                                            self._cost_ceiling(quote, activation.price_cents), excluded)
            except PARTNER_ERRORS as exc:
                logger.info("partner gave no number", extra={"partner": partner.name, "error": str(exc),
                                                             "activation_id": activation.activation_id})
                return None
            if number.phone not in marked and not number.phone.startswith(tuple(excluded)):
                return number
            # The partner ignored the exclusion (or the mark is newer than the list it was sent): give it back.
            logger.info("partner offered an excluded number", extra={
                "partner": partner.name, "activation_id": activation.activation_id})
            self.lifecycle.calls.tell(partner, number.partner_activation_id, PartnerAction.CANCEL)
        return None

    def issue(self, activation: Activation, partner: Partner, quote: Quote, number: PartnerNumber) -> Activation:
        cost = quote.cost_cents
        if number.cost_minor is not None:  # what the partner says it charged for this number
            cost = convert_minor(number.cost_minor, self.catalog.rate(partner.name))
        shards = self.settings.write_shards
        active_key = activation_repo.active_key(partner.name, activation.activation_id, shards)
        changes = {"phone": number.phone, "partner": partner.name, "operator": quote.operator,
                   "partner_activation_id": number.partner_activation_id, "cost_cents": cost,
                   "partner_ref": activation_repo.partner_ref(partner.name, number.partner_activation_id),
                   "active_key": active_key, "last_checked_at": self.clock.now()}
        try:
            return self.lifecycle.apply(activation, ActivationEvent.NUMBER_ISSUED, changes,
                                        only_from=ActivationStatus.PENDING)
        except IllegalTransition:
            # The resolve job gave up on this order (and refunded it) while the partner was answering.
            self.lifecycle.calls.tell(partner, number.partner_activation_id, PartnerAction.CANCEL)
            return self.lifecycle.load(activation.activation_id)

    def fail(self, activation: Activation) -> Activation:
        try:
            return self.lifecycle.apply(activation, ActivationEvent.PARTNER_FAILED, only_from=ActivationStatus.PENDING)
        except IllegalTransition:
            return self.lifecycle.load(activation.activation_id)

    def _cost_ceiling(self, quote: Quote, price_cents: int) -> int:
        """The most the partner may charge, in its minor units: its listed cost, or up to our price if higher."""
        return max(quote.cost_minor, int(Decimal(price_cents) / self.catalog.rate(quote.partner)))

    def _bad_numbers(self, account: Account, service: str) -> list[str]:
        """The numbers the user banned for the service; no query for an account that never banned one."""
        if account.has_bad_numbers is False:
            return []
        return activation_repo.banned_phones(account.account_id, service, _EXCLUDED_PHONES_LIMIT)

    def replay(self, claim_key: str | None, request: OrderRequest) -> Activation | None:
        activation_id = idempotency.replayed_id(claim_key, request.fingerprint(), "order")
        return None if activation_id is None else self.lifecycle.load(activation_id)


def _validate(request: OrderRequest, idempotency_key: str | None) -> None:
    if not SERVICE_CODE.fullmatch(request.service):
        raise InvalidInput(f"Unknown service {request.service!r}: see GET /v1/services.", code="BAD_SERVICE",
                           details={"field": "service"})
    if country_by_id(request.country) is None:
        raise InvalidInput(f"Unknown country {request.country!r}: see GET /v1/countries.", code="BAD_COUNTRY",
                           details={"field": "country"})
    if request.operator is not None and not _OPERATOR.fullmatch(request.operator):
        raise InvalidInput("'operator' must be a lower-case operator name such as 'mts', or 'any'.",
                           code="WRONG_OPERATOR", details={"field": "operator"})
    if request.max_price_cents is not None and not 1 <= request.max_price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput(f"'max_price_cents' must be from 1 to {MAX_PRICE_CENTS}.",
                           details={"field": "max_price_cents"})
    idempotency.check_key(idempotency_key)


def _operator_param(operator: str) -> str | None:
    return None if operator == "any" else operator
