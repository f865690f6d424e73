"""Activations as every adapter sees them (REST v1, the SMS-Activate handler, admin, jobs): one facade.

It composes the catalog, ordering, the lifecycle and SMS intake over the same partners, and adds the
user operations that need several of them (cancel asks the partner, which may reveal an SMS).
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account
from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_state import ActivationEvent
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import PartnerError
from chalicelib.observability import logger
from chalicelib.providers.base import Partner
from chalicelib.services.activations.catalog import Catalog, CatalogItem
from chalicelib.services.activations.delivery_memory import DeliveryMemory
from chalicelib.services.activations.lifecycle import PARTNER_ERRORS, Lifecycle
from chalicelib.services.activations.ordering import Ordering, OrderRequest
from chalicelib.services.platform.partner_calls import PartnerAction, Told
from chalicelib.store import activation_repo

if TYPE_CHECKING:
    from chalicelib.services.activations.batch_ordering import Batch, BatchOrdering, MultiServiceRequest
    from chalicelib.services.activations.reactivation import ReactivationQuote, Reactivations
    from chalicelib.services.activations.sms_intake import PollResult, SmsIntake
    from chalicelib.services.platform.user_webhooks import UserWebhooks

MAX_LIST_LIMIT = 100


def _built_on_first_use(builder: str) -> functools.cached_property[Any]:
    """A part the facade was handed as a builder (its attribute `builder`): built by its first use, then kept."""
    return functools.cached_property(lambda facade: getattr(facade, builder)())


class Activations:
    """Built by the composition root (chalicelib/wiring.py) from parts that share the partners and the wallet.

    SMS intake, reactivation, batches and the user webhooks' delivery are handed as builders and built on first
    use: a cold container whose first request is an order loads none of their modules (issue 16's cold start)."""

    def __init__(self, settings: Settings, clock: Clock, partners: Sequence[Partner], *, memory: DeliveryMemory,
                 catalog: Catalog, lifecycle: Lifecycle, webhooks: Callable[[], UserWebhooks],
                 intake: Callable[[], SmsIntake],
                 ordering: Ordering, reactivations: Callable[[], Reactivations],
                 batches: Callable[[], BatchOrdering]) -> None:
        self.settings = settings
        self.clock = clock
        self.partners = list(partners)
        self.memory = memory
        self.catalog = catalog
        self.lifecycle = lifecycle
        self.ordering = ordering
        self._build_intake = intake
        self._build_reactivations = reactivations  # reactivation and batches are ways of ordering, over `ordering`
        self._build_batches = batches
        self._build_webhooks = webhooks

    intake: functools.cached_property[SmsIntake] = _built_on_first_use("_build_intake")
    reactivations: functools.cached_property[Reactivations] = _built_on_first_use("_build_reactivations")
    batches: functools.cached_property[BatchOrdering] = _built_on_first_use("_build_batches")
    webhooks: functools.cached_property[UserWebhooks] = _built_on_first_use("_build_webhooks")

    # The price list ----------------------------------------------------------------------------------------
    def price_list(self, service: str | None = None, country: int | None = None) -> list[CatalogItem]:
        """The public price list, one item per (service, country, operator), from the cache."""
        return self.catalog.items(service=service, country=country)

    def service_names(self) -> dict[str, str]:
        """Every service listed or sold, code → name: our curated ones first, then those partners sell."""
        return self.catalog.service_names()

    def sells_service(self, code: str) -> bool:
        return self.catalog.sells_service(code)

    def operators(self, country: int | None = None) -> dict[int, list[str]]:
        """Per country, the operators some configured partner names."""
        return self.catalog.operators(country)

    # Users -------------------------------------------------------------------------------------------------
    def order(self, account: Account, request: OrderRequest, idempotency_key: str | None = None) -> Activation:
        return self.ordering.order(account, request, idempotency_key)

    def order_multi_service(self, account: Account, request: MultiServiceRequest) -> Batch:
        """One number for several services, an activation and a charge each, debited together (batch_ordering.py)."""
        return self.batches.order_multi_service(account, request)

    def order_bulk(self, account: Account, request: OrderRequest, count: int,
                   idempotency_key: str | None = None) -> Batch:
        """`count` numbers of one service and country, debited together (batch_ordering.py)."""
        return self.batches.order_bulk(account, request, count, idempotency_key)

    def reactivation_quote(self, account: Account, activation_id: int) -> ReactivationQuote:
        return self.reactivations.quote(account, activation_id)

    def reactivate(self, account: Account, activation_id: int, max_price_cents: int | None = None,
                   idempotency_key: str | None = None) -> Activation:
        """Another code on the number of an earlier activation (reactivation.py)."""
        return self.reactivations.reactivate(account, activation_id, max_price_cents, idempotency_key)

    def reactivate_number(self, account: Account, service: str, phone: str) -> Activation:
        return self.reactivations.reactivate_number(account, service, phone)

    def get(self, account_id: str, activation_id: int) -> Activation:
        """The activation, first asking its partner when it is waiting and was not asked a moment ago."""
        return self.intake.look(account_id, activation_id)

    def list_for_account(self, account_id: str, limit: int = 50) -> list[Activation]:
        """Newest first."""
        return activation_repo.for_account(account_id, max(1, min(limit, MAX_LIST_LIMIT)))

    def active_for_account(self, account_id: str) -> list[Activation]:
        """Activations that can still change, newest first (older ones have all ended by their lifetime)."""
        horizon = self.clock.now() - 2 * self.settings.activation_lifetime_seconds
        found: list[Activation] = []
        for activation in activation_repo.newest_for_account(account_id):
            if activation.created_at < horizon:
                break
            if activation.active_key is not None:
                found.append(activation)
        return found

    def cancel_available_at(self, activation: Activation) -> float:
        """When the early-cancel window closes (domain/refund_policy.py)."""
        return self.lifecycle.cancel_available_at(activation)

    def cancel(self, account_id: str, activation_id: int) -> Activation:
        activation = self.lifecycle.load_for_account(account_id, activation_id)
        self.lifecycle.ensure_allowed(activation, ActivationEvent.USER_CANCEL)
        activation = self._cancel_at_partner(activation)
        return self.lifecycle.apply(activation, ActivationEvent.USER_CANCEL)

    def finish(self, account_id: str, activation_id: int) -> Activation:
        finished = self.lifecycle.apply_unread(account_id, activation_id, ActivationEvent.USER_FINISH)
        self.lifecycle.tell_partner(finished, PartnerAction.FINISH)
        return finished

    def retry(self, account_id: str, activation_id: int) -> Activation:
        """Ask for another SMS on the same number (free); the partner is asked first, so a poll in between
        cannot mistake the previous SMS for a new one."""
        activation = self.lifecycle.load_for_account(account_id, activation_id)
        self.lifecycle.ensure_allowed(activation, ActivationEvent.USER_RETRY)
        found = self.lifecycle.partner_of(activation)
        if found is not None:
            partner, partner_activation_id = found
            try:
                partner.request_another_sms(partner_activation_id)
            except PARTNER_ERRORS as exc:
                raise PartnerError("The number's provider did not take the request; try again in a moment.",
                                   code="PARTNER_UNAVAILABLE") from exc
        return self.lifecycle.apply(activation, ActivationEvent.USER_RETRY)

    def ban(self, account_id: str, activation_id: int) -> Activation:
        """The number is unusable for the service: never sold for it again (to this user at once, to anyone once the
        mark reaches their container); refund per policy."""
        activation = self.lifecycle.load_for_account(account_id, activation_id)
        self.lifecycle.ensure_allowed(activation, ActivationEvent.USER_BAN)
        if activation.has_sms:
            self.lifecycle.tell_partner(activation, PartnerAction.FINISH)
        else:
            activation = self._cancel_at_partner(activation)
        banned = self.lifecycle.apply(activation, ActivationEvent.USER_BAN)  # marks the number platform-wide
        self.memory.remember_mark(banned)
        if banned.phone:
            activation_repo.record_ban(account_id, activation_id, banned.service, banned.phone, self.clock.now())
        return banned

    # Operators ---------------------------------------------------------------------------------------------
    def revoke(self, activation_id: int) -> Activation:
        """An admin ends the activation (agreement 5.2), refunded per policy; the partner is told."""
        revoked = self.lifecycle.apply(self.lifecycle.load(activation_id), ActivationEvent.ADMIN_REVOKE)
        if revoked.has_sms:
            self.lifecycle.tell_partner(revoked, PartnerAction.FINISH)
        else:
            self.lifecycle.tell_partner(revoked, PartnerAction.CANCEL)
        return revoked

    # Partners ----------------------------------------------------------------------------------------------
    def record_push(self, partner: str, partner_activation_id: str, text: str, code: str | None) -> bool:
        return self.intake.record_push(partner, partner_activation_id, text, code)

    # Jobs --------------------------------------------------------------------------------------------------
    def refresh_prices(self) -> dict[str, int]:
        return self.catalog.refresh_prices()

    def poll_partners(self) -> dict[str, int]:
        """One cycle: per partner, how many of our activations its answer changed."""
        return {name: result.changed for name, result in self._poll_cycle().items()}

    def poll_for(self, seconds: float, every: float, sleep: Callable[[float], None] = time.sleep) -> int:
        """Poll now, then every `every` s for up to `seconds`, while some partner still holds a number open.

        EventBridge starts a job once a minute at most; a sweep inside the invocation brings a code that
        arrives only by poll within `every` seconds instead of a minute, and costs nothing when no number
        is waiting (the sweep ends after its first, empty cycle). Returns the number of cycles run.
        """
        deadline = self.clock.now() + seconds
        cycles = 0
        while True:
            results = self._poll_cycle()
            cycles += 1
            if any(r.changed for r in results.values()):
                logger.info("partners polled", extra={"changed": {n: r.changed for n, r in results.items()}})
            if not any(r.awaiting for r in results.values()) or self.clock.now() + every > deadline:
                return cycles
            sleep(every)

    def _poll_cycle(self) -> dict[str, PollResult]:
        """One active-activations call per partner; a partner that fails is skipped until the next cycle."""
        results: dict[str, PollResult] = {}
        for partner in self.partners:
            try:
                results[partner.name] = self.intake.poll(partner)
            except PARTNER_ERRORS as exc:
                logger.warning("poll failed", extra={"partner": partner.name, "error": str(exc)})
        return results

    def expire_overdue_activations(self) -> int:
        return self.lifecycle.expire_overdue()

    def resolve_stale_pending(self) -> int:
        return self.lifecycle.resolve_stale_pending()

    def deliver_user_webhooks(self) -> int:
        return self.webhooks.deliver_due()

    def _cancel_at_partner(self, activation: Activation) -> Activation:
        """Cancel at the partner; when it refuses, an SMS may be there: fetch it before judging the cancel."""
        if self.lifecycle.tell_partner(activation, PartnerAction.CANCEL) is Told.REFUSED:
            from chalicelib.services.activations.sms_intake import SmsSource

            return self.intake.refresh_now(activation, SmsSource.ON_DEMAND)
        return activation

    def retry_partner_calls(self) -> int:
        return self.lifecycle.calls.retry_due()
