"""Test support for the admin area: AdminService over moto, a fixed clock, a recording mailer, a fake partner.

The `office` fixture (tests/unit/conftest.py) gives each test an `AdminHarness` over fresh `moto_tables`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from pynamodb.transactions import TransactWrite

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.ids import new_numeric_id
from chalicelib.providers.base import PartnerActivationState, PartnerNumber, PartnerOffer, PartnerStatus
from chalicelib.services.activations.facade import Activations
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.services.admin.service import AdminService
from chalicelib.services.money.stripe_events import StripeEvents
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.money import DynamoMoneyStore
from tests.clock import FixedClock
from tests.unit.accounts_support import RecordingMailer
from tests.unit.stripe_fake import WEBHOOK_SECRET, FakeGateway, charge_saved_card, intent_of, signed

ACTOR = "ops@example.com"


@dataclass
class FakePartner:
    """One offer (tg in Russia at 100 cents), numbers on demand, and a record of what it was told."""

    name: str = "sim"
    cost_minor: int = 100
    balance_minor: int = 5_000
    issued: int = 0
    canceled: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def get_offers(self) -> list[PartnerOffer]:
        return [PartnerOffer("tg", 0, "any", self.cost_minor, "USD", 50)]

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        self.issued += 1
        return PartnerNumber(f"p{self.issued}", f"7900000{self.issued:04d}", self.cost_minor)

    def get_state(self, partner_activation_id: str) -> PartnerActivationState:
        return PartnerActivationState(partner_activation_id, PartnerStatus.WAITING)

    def get_active_states(self) -> list[PartnerActivationState]:
        return []

    def cancel(self, partner_activation_id: str) -> None:
        self.canceled.append(partner_activation_id)

    def finish(self, partner_activation_id: str) -> None:
        self.finished.append(partner_activation_id)

    def request_another_sms(self, partner_activation_id: str) -> None:
        return None

    def get_balance_minor(self) -> int:
        return self.balance_minor


class AdminHarness:
    def __init__(self, settings: Settings) -> None:
        self.settings = replace(settings, stripe_webhook_secret=WEBHOOK_SECRET)
        self.clock = FixedClock()
        self.mailer = RecordingMailer()
        self.partner = FakePartner()
        self.admin: AdminService = wiring.build_admin_service(self.settings, self.clock, self.mailer, [self.partner],
                                                              wiring.stripe_gateway())

    def account(self, email: str = "ann@example.com", balance_cents: int = 0) -> Account:
        created = self.admin.accounts.create_account(email, verified=True, actor=ACTOR, balance_cents=balance_cents)
        self.clock.advance(1)
        return Account.get(created["account_id"], consistent_read=True)

    def order(self, account: Account) -> Activation:
        """A WAITING activation bought through the ordering service (prices refreshed from the fake partner)."""
        # build_admin_service hands AdminService the whole Activations facade; AdminService types it narrower.
        activations = cast(Activations, self.admin.activations)
        activations.refresh_prices()
        bought: Activation = activations.order(Account.get(account.account_id), OrderRequest("tg", 0))
        self.clock.advance(1)
        return bought

    def fresh(self, account: Account) -> Account:
        return Account.get(account.account_id, consistent_read=True)

    def charge_card(self, gateway: FakeGateway, account: Account, amount_cents: int) -> str:
        """A card top-up charged through the payments service, not credited until `credit` applies Stripe's event."""
        return charge_saved_card(TopUps(gateway, self.settings, self.clock), account.account_id,
                                 amount_cents).payment_intent_id

    def unmatched_charge(self, account: Account) -> str:
        """A charge for an activation that failed without a number and was never refunded (a lost refund): its id."""
        activation_id = new_numeric_id()

        def failed_activation(tx: TransactWrite) -> None:
            tx.save(Activation(activation_id, account_id=account.account_id, service="tg", country=0,
                               status=ActivationStatus.FAILED.value, price_cents=130, created_at=self.clock.now(),
                               expires_at=self.clock.now() + 1200))

        Wallet(self.clock, DynamoMoneyStore()).post(account.account_id, -130, LedgerKind.ACTIVATION_CHARGE,
                                                    str(activation_id), extra=failed_activation)
        return str(activation_id)

    def credit(self, gateway: FakeGateway, intent_id: str) -> None:
        event = signed("payment_intent.succeeded", intent_of(gateway, intent_id), timestamp=int(self.clock.now()))
        StripeEvents(gateway, Wallet(self.clock, DynamoMoneyStore()), wiring.mailer()).receive(*event)


def actions_of(result: dict[str, Any]) -> list[str]:
    return [a["action"] for a in result["admin_actions"]]
