"""Top-ups (agreement 6.2): save a card with a SetupIntent, then charge it; Stripe's signed event credits it.

A top-up is credited only by the verified `payment_intent.succeeded` event (services/money/stripe_events.py),
never by the charge's response. With an idempotency key, a retried request answers with the first charge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account, require_can_spend
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AccountRestricted, Conflict, InvalidInput, PaymentError
from chalicelib.domain.ids import new_id, sha256_hex
from chalicelib.domain.money import format_major
from chalicelib.domain.payments import TopUp, TopUpStatus
from chalicelib.providers.stripe_gateway import (
    CardSummary,
    PaymentIntentResult,
    RefundResult,
    SetupIntentResult,
    StripeEvent,
)
from chalicelib.store import account_repo, payment_repo, transaction


class CardGateway(Protocol):
    """What money needs from Stripe (providers.stripe_gateway.StripeGateway; an in-memory fake in tests)."""

    def ensure_customer(self, account_id: str, email: str, existing_customer_id: str | None) -> str: ...

    def create_setup_intent(self, customer_id: str) -> SetupIntentResult: ...

    def charge_saved_card(self, customer_id: str, payment_method_id: str, amount_cents: int, currency: str,
                          account_id: str, topup_id: str, idempotency_key: str) -> PaymentIntentResult: ...

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentResult: ...

    def payment_fee(self, payment_intent_id: str, currency: str) -> int | None: ...

    def refund(self, payment_intent_id: str, amount_cents: int, idempotency_key: str,
               metadata: dict[str, str]) -> RefundResult: ...

    def list_payment_methods(self, customer_id: str) -> list[CardSummary]: ...

    def parse_webhook(self, raw_body: bytes, signature_header: str, now: int) -> StripeEvent: ...


_STATUS_AFTER_CHARGE = {"succeeded": TopUpStatus.PENDING, "processing": TopUpStatus.PENDING,
                        "requires_action": TopUpStatus.REQUIRES_ACTION}


@dataclass(frozen=True)
class CardSetup:
    setup_intent_id: str
    client_secret: str
    publishable_key: str
    stripe_js_url: str


@dataclass(frozen=True)
class TopUpStarted:
    topup_id: str
    payment_intent_id: str
    stripe_status: str  # the PaymentIntent's status: the page acts on "requires_action"
    client_secret: str


def require_can_top_up(account: Account) -> None:
    """Who may spend may top up (3.2: not unverified), and so may a restricted account: topping up repays it."""
    try:
        require_can_spend(account)
    except AccountRestricted:
        return


class TopUps:
    """Save a card with a SetupIntent, then charge it; the webhook does the crediting."""

    def __init__(self, gateway: CardGateway, settings: Settings, clock: Clock) -> None:
        self.gateway = gateway
        self.settings = settings
        self.clock = clock

    def start_card_setup(self, account: Account) -> CardSetup:
        require_can_top_up(account)
        intent = self.gateway.create_setup_intent(self._customer_of(account))
        return CardSetup(setup_intent_id=intent.id, client_secret=intent.client_secret,
                         publishable_key=self.settings.stripe_publishable_key,
                         stripe_js_url=self.settings.stripe_js_url)

    def saved_cards(self, account: Account) -> list[CardSummary]:
        if not account.stripe_customer_id:
            return []
        return self.gateway.list_payment_methods(account.stripe_customer_id)

    def start(self, account: Account, amount_cents: int, payment_method_id: str,
              idempotency_key: str | None = None) -> TopUpStarted:
        """Charge a saved card; raises InvalidInput for the amount, PaymentError for the card.

        With an idempotency key, a retry of the same request answers with the first top-up's PaymentIntent
        instead of charging the card again (a client that lost the response must be able to retry).
        """
        require_can_top_up(account)
        self._check_amount(amount_cents)
        if not account.stripe_customer_id:
            account = account_repo.read(account.account_id) or account  # the card setup may have stored it now
        if not account.stripe_customer_id:
            raise InvalidInput("Add a card before topping up.", code="NO_SAVED_CARD")
        topup_id = _keyed_topup_id(account.account_id, idempotency_key) if idempotency_key else new_id("tu")
        topup = TopUp(topup_id, account_id=account.account_id, amount_cents=amount_cents,
                      currency=self.settings.currency.upper(), status=TopUpStatus.CREATED,
                      payment_method_id=payment_method_id, created_at=self.clock.now())
        if not payment_repo.create_topup(topup):
            return self._replay(topup, account)
        return self._charge(account, topup)

    def _replay(self, requested: TopUp, account: Account) -> TopUpStarted:
        first = payment_repo.topup(requested.topup_id)
        if first is None:  # pragma: no cover - a top-up is never deleted
            raise Conflict("This top-up is being made; try again.")
        if (first.amount_cents, first.payment_method_id) != (requested.amount_cents, requested.payment_method_id):
            raise Conflict("This Idempotency-Key was already used for a different top-up.",
                           code="IDEMPOTENCY_KEY_REUSED")
        if not first.payment_intent_id:
            # The first attempt has not heard back from Stripe: the same Stripe key makes this the same charge.
            return self._charge(account, first)  # the key is the account's own: it is the same account
        intent = self.gateway.retrieve_payment_intent(first.payment_intent_id)
        return TopUpStarted(topup_id=first.topup_id, payment_intent_id=intent.id, stripe_status=intent.status,
                            client_secret=intent.client_secret)

    def _charge(self, account: Account, topup: TopUp) -> TopUpStarted:
        amount_cents, payment_method_id = topup.amount_cents, str(topup.payment_method_id)
        try:
            intent = self.gateway.charge_saved_card(
                str(account.stripe_customer_id), payment_method_id, amount_cents, topup.currency,
                account_id=account.account_id, topup_id=topup.topup_id, idempotency_key=f"topup:{topup.topup_id}")
        except PaymentError:
            payment_repo.set_topup_status(topup.topup_id, TopUpStatus.FAILED)
            raise
        _note_intent(topup, intent)
        return TopUpStarted(topup_id=topup.topup_id, payment_intent_id=intent.id, stripe_status=intent.status,
                            client_secret=intent.client_secret)

    def _check_amount(self, amount_cents: int) -> None:
        low, high = self.settings.topup_min_cents, self.settings.topup_max_cents
        if not low <= amount_cents <= high:
            currency = self.settings.currency.upper()
            raise InvalidInput(f"A top-up must be between {format_major(low)} and {format_major(high)} {currency}.",
                               details={"field": "amount_cents", "min": low, "max": high})

    def _customer_of(self, account: Account) -> str:
        if account.stripe_customer_id:
            return str(account.stripe_customer_id)
        created = self.gateway.ensure_customer(account.account_id, account.email, None)
        try:
            # Two setups racing: the first stored customer wins and the other is never used.
            account = account_repo.change(account.account_id, {"stripe_customer_id": created},
                                          when={"stripe_customer_id": None})
        except transaction.Refused:
            account = account_repo.read(account.account_id) or account
        return str(account.stripe_customer_id)


def _keyed_topup_id(account_id: str, idempotency_key: str) -> str:
    return "tu_k" + sha256_hex(f"{account_id}:{idempotency_key}")[:28]


def _note_intent(topup: TopUp, intent: PaymentIntentResult) -> None:
    status = _STATUS_AFTER_CHARGE.get(intent.status, TopUpStatus.FAILED)
    # The webhook may have credited it already (Stripe can be faster than its own response).
    payment_repo.set_topup_status(topup.topup_id, status, payment_intent_id=intent.id, unless_credited=True)
