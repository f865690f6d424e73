"""Several numbers in one call: one number for several services (multi-service), or N numbers of one service (bulk).

Each number is its own activation with its own charge, and every charge of the call is debited in ONE transaction
(wallet.debit_together): all or none. Then partners are asked; a number not had ends FAILED and is refunded at once
by the lifecycle, exactly once (its refund's claim is the activation id). A crash after the debit leaves PENDING
activations that the resolve job fails and refunds, one refund each, as for a single order.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from chalicelib.domain.accounts import Account, LedgerKind, require_can_spend
from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_status import ActivationStatus
from chalicelib.domain.catalog_data import service_by_code
from chalicelib.domain.errors import AlreadyApplied, Conflict, InvalidInput, NoNumbers
from chalicelib.domain.ids import new_numeric_id
from chalicelib.observability import logger
from chalicelib.providers.base import MultiServicing
from chalicelib.services.activations.catalog import Quote
from chalicelib.services.activations.lifecycle import PARTNER_ERRORS
from chalicelib.services.activations.ordering import Ordering, OrderRequest
from chalicelib.services.money.wallet import Charge
from chalicelib.services.platform import idempotency
from chalicelib.store import activation_repo
from chalicelib.store.base import JoinedWrite, joined
from chalicelib.store.money import CommitRefused, funds_of

MAX_SERVICES = 10  # services on one multi-service number
_SERVICES_LIST = re.compile(r"[a-z0-9_]{1,16}(,[a-z0-9_]{1,16})*")
_ID_DRAWS = 5
_BULK_WORKERS = 8  # partner calls of one bulk order at once


@dataclass(frozen=True)
class MultiServiceRequest:
    services: tuple[str, ...]
    country: int
    operator: str | None = None


@dataclass(frozen=True)
class Batch:
    """What one call bought: every activation it created (WAITING, or FAILED and refunded), in request order."""

    requested: int
    activations: list[Activation]

    @property
    def issued(self) -> list[Activation]:
        return [a for a in self.activations if a.status is not ActivationStatus.FAILED]

    @property
    def refunded_cents(self) -> int:
        return sum(a.price_cents for a in self.activations if a.status is ActivationStatus.FAILED)


def parse_services(raw: str) -> tuple[str, ...]:
    """`vk,ok,wa` (the handler API's multiService) as codes; InvalidInput BAD_SERVICE when it is not such a list."""
    if not _SERVICES_LIST.fullmatch(raw):
        raise InvalidInput("'services' must be service codes separated by commas, e.g. 'vk,ok,wa'.",
                           code="BAD_SERVICE", details={"field": "service"})
    return tuple(raw.split(","))


class BatchOrdering:
    def __init__(self, ordering: Ordering) -> None:
        self.ordering = ordering

    # Multi-service ------------------------------------------------------------------------------------------
    def order_multi_service(self, account: Account, request: MultiServiceRequest) -> Batch:
        """One number from one partner, an activation per service, each priced as that partner's offer."""
        _validate_services(request.services)
        for service in request.services:
            self.ordering.validate(OrderRequest(service, request.country, request.operator), None)
        require_can_spend(account)
        plans = self._multi_service_plans(request)
        if not plans:
            raise NoNumbers("No partner sells one number for all these services in this country right now.")
        prices = dict(zip(request.services, plans[0], strict=True))  # what the user pays: the cheapest plan
        activations = self._debit(account, [(OrderRequest(s, request.country, request.operator),
                                             prices[s].price_cents) for s in request.services], None, "")
        by_service = {a.service: a for a in activations}
        for plan in plans:
            if any(q.cost_cents > prices[s].price_cents for s, q in zip(request.services, plan, strict=True)):
                continue  # a fallback partner may not cost us more than the price charged
            partner = self.ordering.partners.get(plan[0].partner)
            if not isinstance(partner, MultiServicing):
                continue
            try:
                numbers = partner.get_multi_service_number(request.services, request.country, request.operator)
            except PARTNER_ERRORS as exc:
                logger.info("partner gave no multi-service number", extra={"partner": plan[0].partner,
                                                                           "error": str(exc)})
                continue
            quotes = dict(zip(request.services, plan, strict=True))
            done = [self.ordering.issue(by_service[s], self.ordering.partners[plan[0].partner], quotes[s], numbers[s])
                    if s in numbers else self.ordering.fail(by_service[s]) for s in request.services]
            return Batch(len(request.services), done)
        return Batch(len(request.services), [self.ordering.fail(a) for a in activations])

    def _multi_service_plans(self, request: MultiServiceRequest) -> list[list[Quote]]:
        """Per partner that sells multi-service numbers and has every service in stock: its quote per service
        (in request order), the cheapest plan for the user first."""
        quotes = {s: self.ordering.catalog.quote(s, request.country, request.operator) for s in request.services}
        plans: list[list[Quote]] = []
        for name, partner in self.ordering.partners.items():
            if not isinstance(partner, MultiServicing):
                continue
            plan = [next((q for q in quotes[s] if q.partner == name), None) for s in request.services]
            if all(q is not None for q in plan):
                plans.append([q for q in plan if q is not None])
        return sorted(plans, key=lambda plan: sum(q.price_cents for q in plan))

    # Bulk ---------------------------------------------------------------------------------------------------
    def order_bulk(self, account: Account, request: OrderRequest, count: int,
                   idempotency_key: str | None = None) -> Batch:
        """`count` numbers of one service and country at one price, partners asked in parallel for at most the
        bulk deadline; what is not had by then is refunded at once."""
        limit = self.ordering.settings.bulk_max_count
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= limit:
            raise InvalidInput(f"'count' must be a whole number from 1 to {limit}.", details={"field": "count"})
        self.ordering.validate(request, idempotency_key)
        require_can_spend(account)
        claim_key = idempotency.claim_key("bulk", account.account_id, idempotency_key)
        fingerprint = f"{request.fingerprint()}|x{count}"
        replayed = self._replay(claim_key, fingerprint, count)
        if replayed is not None:
            return replayed
        quotes = self.ordering.quotes_within_max(request)
        try:
            activations = self._debit(account, [(request, quotes[0].price_cents)] * count, claim_key, fingerprint)
        except CommitRefused:
            replayed = self._replay(claim_key, fingerprint, count)  # the same key won a race a moment ago
            if replayed is None:
                raise
            return replayed
        return Batch(count, self._acquire_in_parallel(account, request, activations, quotes))

    def _acquire_in_parallel(self, account: Account, request: OrderRequest, activations: list[Activation],
                             quotes: Sequence[Quote]) -> list[Activation]:
        """Each activation asks partners on its own thread; those without a number at the deadline are failed
        (refunded) now. A partner answering later finds its activation FAILED and its number is canceled there."""
        pool = ThreadPoolExecutor(max_workers=min(len(activations), _BULK_WORKERS))
        futures = [pool.submit(self.ordering.acquire, account, request, a, quotes) for a in activations]
        wait(futures, timeout=self.ordering.settings.bulk_deadline_seconds)
        pool.shutdown(wait=False)
        done: list[Activation] = []
        for activation, future in zip(activations, futures, strict=True):
            if future.done() and future.exception() is None:
                done.append(future.result())
            else:
                done.append(self.ordering.fail(activation))
        return done

    def _replay(self, claim_key: str | None, fingerprint: str, count: int) -> Batch | None:
        ids = idempotency.replayed_ids(claim_key, fingerprint, "bulk order")
        if ids is None:
            return None
        return Batch(count, [self.ordering.lifecycle.load(i) for i in ids])

    # Both ---------------------------------------------------------------------------------------------------
    def _debit(self, account: Account, orders: list[tuple[OrderRequest, int]], claim_key: str | None,
               fingerprint: str) -> list[Activation]:
        """PENDING activations for `orders` (request, price), every charge in one transaction; ids drawn again
        when one was taken in the same millisecond."""
        for _ in range(_ID_DRAWS):
            ids = [new_numeric_id() for _ in orders]
            activations = [self.ordering.pending(i, account, r, price, claim_key)
                           for i, (r, price) in zip(ids, orders, strict=True)]
            charges = [Charge(a.price_cents, LedgerKind.ACTIVATION_CHARGE, str(a.activation_id),
                              memo=f"{a.service}/{a.country}") for a in activations]
            try:
                self.ordering.wallet.debit_together(account.account_id, charges, known=funds_of(account),
                                                    extra=self._create(activations, claim_key, fingerprint))
                return activations
            except AlreadyApplied:
                continue
        raise Conflict("Could not assign order ids; try again.")

    def _create(self, activations: list[Activation], claim_key: str | None, fingerprint: str) -> JoinedWrite:
        """The batch's activations and its idempotency claim, as items of the debit's transaction."""
        ids, now = [a.activation_id for a in activations], self.ordering.clock.now()
        return joined([activation_repo.create_writes(activations),
                       idempotency.claiming(claim_key, ids, fingerprint, now)])


def _validate_services(services: Sequence[str]) -> None:
    if not 2 <= len(services) <= MAX_SERVICES or len(set(services)) != len(services):
        raise InvalidInput(f"Name from 2 to {MAX_SERVICES} different services for one number.",
                           code="BAD_SERVICE", details={"field": "service"})
    for service in services:
        if service_by_code(service) is None:
            raise InvalidInput(f"Unknown service {service!r}: see GET /v1/services.", code="BAD_SERVICE",
                               details={"field": "service"})
