"""Test support for the admin area: AdminService over moto, a fixed clock, a recording mailer, a fake partner."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chalicelib.config import Settings, settings_from_env
from chalicelib.domain.clock import FixedClock
from chalicelib.providers.base import PartnerActivationState, PartnerNumber, PartnerOffer, PartnerStatus
from chalicelib.services import runtime_settings
from chalicelib.services.admin import AdminService
from chalicelib.services.admin_wiring import build_admin_service
from chalicelib.services.ordering import OrderRequest
from chalicelib.services.payments import StripeEvents, TopUps
from chalicelib.services.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.base import bind_models, create_tables
from tests.unit.accounts_support import RecordingMailer
from tests.unit.stripe_fake import WEBHOOK_SECRET, FakeGateway, intent_of, signed

ACTOR = "ops@example.com"


@dataclass
class MotoWorld:
    settings: Settings
    mock: Any


def moto_world(outbox: Path) -> Iterator[MotoWorld]:
    """Moto with every table, bound once for a whole test module.

    Binding builds one botocore client per model (≈0.5 s each on a loaded machine), so a module
    binds once and each test starts from empty tables with `fresh_tables` (reset + create: ≈0.5 s).
    """
    from moto import mock_aws

    settings = replace(settings_from_env({"STAGE": "local"}), dynamodb_endpoint=None, table_prefix="unit-",
                       mail_outbox_dir=str(outbox))
    with mock_aws() as mock:
        bind_models(settings)
        yield MotoWorld(settings, mock)
    runtime_settings.clear_cache()


def fresh_tables(world: MotoWorld) -> Settings:
    world.mock.reset()
    create_tables(wait=False)
    runtime_settings.clear_cache()
    return world.settings


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
        self.admin: AdminService = build_admin_service(self.settings, clock=self.clock, mailer=self.mailer,
                                                       partners=[self.partner])

    def account(self, email: str = "ann@example.com", balance_cents: int = 0) -> Account:
        created = self.admin.accounts.create_account(email, verified=True, actor=ACTOR, balance_cents=balance_cents)
        self.clock.advance(1)
        return Account.get(created["account_id"], consistent_read=True)

    def order(self, account: Account) -> Activation:
        """A WAITING activation bought through the ordering service (prices refreshed from the fake partner)."""
        activations = self.admin.activations
        activations.refresh_prices()
        bought: Activation = activations.order(Account.get(account.account_id), OrderRequest("tg", 0))
        self.clock.advance(1)
        return bought

    def fresh(self, account: Account) -> Account:
        return Account.get(account.account_id, consistent_read=True)

    def charge_card(self, gateway: FakeGateway, account: Account, amount_cents: int) -> str:
        """A card top-up charged through the payments service, not credited until `credit` applies Stripe's event."""
        topups = TopUps(gateway, self.settings, self.clock)
        topups.start_card_setup(Account.get(account.account_id))
        return topups.start(Account.get(account.account_id), amount_cents, "pm_card").payment_intent_id

    def credit(self, gateway: FakeGateway, intent_id: str) -> None:
        event = signed("payment_intent.succeeded", intent_of(gateway, intent_id), timestamp=int(self.clock.now()))
        StripeEvents(gateway, Wallet(self.clock)).receive(*event)


def actions_of(result: dict[str, Any]) -> list[str]:
    return [a["action"] for a in result["admin_actions"]]
