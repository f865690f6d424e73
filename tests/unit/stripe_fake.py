"""An in-memory Stripe with the gateway's methods, and signed events as Stripe sends them, for money's unit tests."""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.errors import PaymentError, PaymentUnavailable, RefundRefused
from chalicelib.domain.ids import new_id
from chalicelib.providers.stripe_gateway import (
    CardSummary,
    PaymentIntentResult,
    RefundResult,
    SetupIntentResult,
    StripeEvent,
    StripeGateway,
)
from chalicelib.services.money.refund_plan import DepositFees, FeeEstimate
from chalicelib.services.money.top_ups import TopUps, TopUpStarted
from chalicelib.store.accounts import Account
from infra.local.localstripe_setup import signature_header
from tests.unit.moto_support import shared_moto_tables  # noqa: F401  (money's suites import it from here)

WEBHOOK_SECRET = "whsec_unit"
NOW = 1_800_000_000
# Stripe's ids are unique across accounts and time; one counter for every fake keeps them so between tests.
_IDS = itertools.count(1)


@dataclass
class Charge:
    id: str
    customer_id: str
    amount_cents: int
    currency: str
    metadata: dict[str, str]
    refunds: list[RefundResult] = field(default_factory=list)

    @property
    def refunded_cents(self) -> int:
        return sum(r.amount_cents for r in self.refunds)


class FakeGateway:
    """Keeps customers, charges and refunds; honours idempotency keys as Stripe does."""

    def __init__(self) -> None:
        self.customers: list[str] = []
        self.charges: dict[str, Charge] = {}  # by PaymentIntent id
        self.cards: dict[str, list[CardSummary]] = {}
        self.keys: dict[str, Any] = {}  # idempotency key -> the first answer
        self.charge_status = "succeeded"
        self.fees: dict[str, int] = {}  # by PaymentIntent id: what the charge's balance transaction says Stripe kept
        self.decline = False
        self.failing_refunds: set[str] = set()  # PaymentIntent ids whose next refund raises `failure`
        self.failure: PaymentError = PaymentUnavailable("The payment service is unavailable right now.")
        self.refusing_refunds: set[str] = set()  # PaymentIntent ids Stripe will never refund (charged back)
        self.during_charge: Callable[[PaymentIntentResult], None] | None = None
        self.during_refund: Callable[[RefundResult], None] | None = None  # Stripe's event beating its response
        self._verifier = StripeGateway("sk_test_unit", None, WEBHOOK_SECRET)

    def ensure_customer(self, account_id: str, email: str, existing_customer_id: str | None) -> str:
        if existing_customer_id:
            return existing_customer_id
        customer_id = f"cus_{next(_IDS)}"
        self.customers.append(customer_id)
        self.cards[customer_id] = [CardSummary(f"pm_{customer_id}", "visa", "4242", 12, 2030)]
        return customer_id

    def create_setup_intent(self, customer_id: str) -> SetupIntentResult:
        n = next(_IDS)
        return SetupIntentResult(id=f"seti_{n}", client_secret=f"seti_{n}_secret_x")

    def charge_saved_card(self, customer_id: str, payment_method_id: str, amount_cents: int, currency: str,
                          account_id: str, topup_id: str, idempotency_key: str) -> PaymentIntentResult:
        if idempotency_key in self.keys:
            return self.keys[idempotency_key]  # type: ignore[no-any-return]
        if self.decline:
            raise PaymentError("Your card was declined.", details={"reason": "card_declined"})
        intent_id = f"pi_{next(_IDS)}"
        self.charges[intent_id] = Charge(f"ch_{intent_id}", customer_id, amount_cents, currency.lower(),
                                         {"account_id": account_id, "topup_id": topup_id})
        intent = PaymentIntentResult(id=intent_id, status=self.charge_status, client_secret=f"{intent_id}_secret",
                                     amount_cents=amount_cents, currency=currency.lower())
        self.keys[idempotency_key] = intent
        if self.during_charge:
            self.during_charge(intent)
        return intent

    def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentResult:
        return next(i for i in self.keys.values() if isinstance(i, PaymentIntentResult) and i.id == payment_intent_id)

    def payment_fee(self, payment_intent_id: str, currency: str) -> int | None:
        """The fee a test said Stripe reports for the payment (`fees`); None, as when Stripe does not say."""
        return self.fees.get(payment_intent_id)

    def refund(self, payment_intent_id: str, amount_cents: int, idempotency_key: str,
               metadata: dict[str, str]) -> RefundResult:
        if idempotency_key in self.keys:
            return self.keys[idempotency_key]  # type: ignore[no-any-return]
        if payment_intent_id in self.failing_refunds:
            self.failing_refunds.discard(payment_intent_id)
            raise self.failure
        if payment_intent_id in self.refusing_refunds:
            raise RefundRefused("The payment could not be processed.")
        charge = self.charges[payment_intent_id]
        if charge.refunded_cents + amount_cents > charge.amount_cents:
            raise PaymentError("The payment could not be processed.")  # Stripe refuses over-refunds
        refund = RefundResult(id=f"re_{next(_IDS)}", status="succeeded", amount_cents=amount_cents)
        charge.refunds.append(refund)
        self.keys[idempotency_key] = refund
        if self.during_refund:
            self.during_refund(refund)
        return refund

    def list_payment_methods(self, customer_id: str) -> list[CardSummary]:
        return list(self.cards.get(customer_id, []))

    def parse_webhook(self, raw_body: bytes, signature_header: str, now: int) -> StripeEvent:
        return self._verifier.parse_webhook(raw_body, signature_header, now)

    def refunds_of(self, payment_intent_id: str) -> list[RefundResult]:
        return list(self.charges[payment_intent_id].refunds)


def new_account(status: AccountStatus = AccountStatus.ACTIVE) -> str:
    """A fresh account with nothing on it; returns its id."""
    account_id = new_id("acc")
    Account(account_id, email=f"{account_id}@example.com", status=status.value, created_at=0).save()
    return account_id


def charge_saved_card(topups: TopUps, account_id: str, amount_cents: int) -> TopUpStarted:
    """The account saves a card and tops up with it: charged at the fake Stripe, credited only by its event."""
    topups.start_card_setup(Account.get(account_id))
    return topups.start(Account.get(account_id), amount_cents, "pm_card")


def signed(event_type: str, obj: dict[str, Any], event_id: str | None = None,
           timestamp: int = NOW, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """A delivery as Stripe makes it: the JSON body and its Stripe-Signature header."""
    body = json.dumps({"id": event_id or f"evt_{event_type}_{obj.get('id')}", "object": "event",
                       "type": event_type, "created": timestamp, "data": {"object": obj}}).encode()
    return body, signature_header(body, secret, timestamp)


def intent_object(intent_id: str, amount_cents: int, metadata: dict[str, str], currency: str = "usd",
                  status: str = "succeeded") -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "amount": amount_cents, "amount_received": amount_cents,
            "currency": currency, "status": status, "metadata": metadata}


def intent_of(gateway: FakeGateway, intent_id: str) -> dict[str, Any]:
    """The PaymentIntent object Stripe would put in payment_intent.succeeded for a charge the fake made."""
    charge = gateway.charges[intent_id]
    return intent_object(intent_id, charge.amount_cents, charge.metadata, charge.currency)


def refunded_charge(gateway: FakeGateway, intent_id: str, refunds: list[dict[str, Any]]) -> dict[str, Any]:
    """A charge.refunded object: amount_refunded is cumulative, `refunds` lists each refund."""
    charge = gateway.charges[intent_id]
    return {"id": charge.id, "object": "charge", "payment_intent": intent_id, "amount": charge.amount_cents,
            "currency": charge.currency, "amount_refunded": sum(r["amount"] for r in refunds),
            "refunds": {"object": "list", "data": refunds}}


def refund_object(refund_id: str, amount_cents: int, intent_id: str, metadata: dict[str, str] | None = None,
                  ) -> dict[str, Any]:
    return {"id": refund_id, "object": "refund", "amount": amount_cents, "currency": "usd", "status": "succeeded",
            "payment_intent": intent_id, "metadata": metadata or {}}


def dispute_object(dispute_id: str, amount_cents: int, intent_id: str) -> dict[str, Any]:
    return {"id": dispute_id, "object": "dispute", "amount": amount_cents, "currency": "usd",
            "charge": f"ch_{intent_id}", "payment_intent": intent_id, "status": "needs_response"}


def no_card_fees(gateway: FakeGateway | None = None) -> DepositFees:
    """Payment fees for tests about something else: Stripe says none (no `fees` given) and the estimate is 0."""
    return DepositFees(gateway or FakeGateway(), FeeEstimate(basis_points=0, fixed_cents=0))
