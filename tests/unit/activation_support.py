"""Test support for activations: the facade over moto with fake partners, a fixed clock and funded accounts."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.config import PartnerSettings, Settings
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.ids import new_id
from chalicelib.providers.base import PartnerNumber
from chalicelib.providers.pinned_http import Target
from chalicelib.services.accounts.webhook_settings import webhook_policy
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform.user_webhooks import UserWebhooks
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from tests.clock import FixedClock
from tests.fake_dns import FakeDns
from tests.fake_partner import FakePartner
from tests.support import activations_facade

T0 = 1_800_000_000.0
MARKUP = Decimal(50)  # a 40-cent cost sells at 60
CODE_SMS = "Your Telegram code is 12345"
# Fewer shards than deployed: every job cycle queries each one, and moto answers slowly; still more than one.
UNIT_WRITE_SHARDS = 4


@dataclass
class Posted:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class RecordingSender:
    """Stands in for the pinned HTTP POST of UserWebhooks: records posts and answers `status`."""

    status: int = 200
    posted: list[Posted] = field(default_factory=list)

    def __call__(self, target: Target, address: Any, body: bytes, headers: dict[str, str], **_: Any) -> int:
        self.posted.append(Posted(f"{target.scheme}://{target.host_header}{target.path}", body, headers))
        return self.status


class Desk:
    """Activations wired over moto with the given fake partners (cheapest first is the caller's choice)."""

    def __init__(self, settings: Settings, partners: Sequence[FakePartner] = (), **overrides: Any) -> None:
        self.clock = FixedClock(T0)
        self.partners = list(partners) or [FakePartner()]
        configured = tuple(PartnerSettings(p.name, "sms-activate", "http://unused", "key") for p in self.partners)
        self.settings = replace(settings, partners=configured, markup_percent=MARKUP, cancel_grace_seconds=120,
                                activation_lifetime_seconds=1200, status_refresh_min_seconds=3,
                                pending_resolve_after_seconds=60,
                                **{"write_shards": UNIT_WRITE_SHARDS, **overrides})
        self.session = RecordingSender()
        self.dns = FakeDns()
        self.webhooks = UserWebhooks(self.clock, webhook_policy(self.settings, self.dns), self.session,
                                     shards=self.settings.write_shards)
        self.service = activations_facade(self.settings, self.partners, self.clock, self.webhooks)
        self.wallet = Wallet(self.clock, DynamoMoneyStore())
        self.service.refresh_prices()

    @property
    def partner(self) -> FakePartner:
        return self.partners[0]

    def account(self, balance_cents: int = 1000, status: AccountStatus = AccountStatus.ACTIVE,
                webhook_url: str | None = None) -> Account:
        account = Account(new_id("acc"), email=f"{new_id('u')}@example.com", status=AccountStatus.ACTIVE.value,
                          created_at=self.clock.now(), webhook_url=webhook_url,
                          webhook_secret="whsec_test" if webhook_url else None)
        account.save()
        if balance_cents:
            self.wallet.post(account.account_id, balance_cents, LedgerKind.ADJUSTMENT, new_id("adj"))
        if status is not AccountStatus.ACTIVE:
            account.update(actions=[Account.status.set(status.value)])
        return Account.get(account.account_id, consistent_read=True)

    def order(self, account: Account, service: str = "tg", country: int = 0, **fields: Any) -> Activation:
        key = fields.pop("idempotency_key", None)
        return self.service.order(account, OrderRequest(service, country, **fields), key)

    def used_number(self, balance_cents: int = 1000) -> tuple[Account, Activation]:
        """A user whose number (60 cents) received its code and was finished: one they may want again."""
        user, activation = self.waiting_number(balance_cents)
        self.received(user, activation)
        return user, self.service.finish(user.account_id, int(activation.activation_id))

    def waiting_number(self, balance_cents: int = 1000, **account: Any) -> tuple[Account, Activation]:
        """A user holding `balance_cents`, and the number they just ordered (60 cents), waiting for its SMS."""
        user = self.account(balance_cents, **account)
        return user, self.order(user)

    def stuck_order(self, user: Account) -> None:
        """The process dies while asking the partner, after the debit committed: a PENDING order is left behind."""
        self.partner.number_failure = SystemExit("killed")
        with pytest.raises(SystemExit):
            self.order(user)

    def balance(self, account_id: str) -> int:
        return int(Account.get(account_id, consistent_read=True).balance_cents)

    def ledger(self, account_id: str) -> list[LedgerEntry]:
        return list(LedgerEntry.query(account_id, consistent_read=True))

    def refunds(self, account_id: str) -> list[LedgerEntry]:
        return [e for e in self.ledger(account_id) if e.kind == LedgerKind.ACTIVATION_REFUND.value]

    def look(self, account_id: str, activation: Activation) -> Activation:
        """The user opens the activation a few seconds later (on-demand, the partner may be asked)."""
        self.clock.advance(self.settings.status_refresh_min_seconds)
        return self.service.get(account_id, int(activation.activation_id))

    def past_cancel_window(self) -> None:
        self.clock.advance(self.settings.cancel_grace_seconds)

    def while_asking_for_a_number(self, meanwhile: Callable[[], object]) -> None:
        """From now on `meanwhile` runs each time the partner is asked for a number, before it answers."""
        partner = self.partner
        ask = partner.get_number

        def slow_get_number(*args: Any, **kwargs: Any) -> PartnerNumber:
            meanwhile()
            return ask(*args, **kwargs)

        partner.get_number = slow_get_number  # type: ignore[method-assign]

    def deliver(self, activation: Activation, text: str) -> None:
        """The SMS reaches the partner (not us yet)."""
        self.partner_of(activation).deliver(str(activation.partner_activation_id), text)

    def received(self, user: Account, activation: Activation, text: str = CODE_SMS) -> Activation:
        """The SMS reaches the partner and the user looks: the activation as they now see it, with the code."""
        self.deliver(activation, text)
        return self.look(user.account_id, activation)

    def push(self, activation: Activation, text: str, code: str | None) -> bool:
        """The partner pushes the SMS to us (its webhook)."""
        return self.service.record_push(self.partner.name, str(activation.partner_activation_id), text, code)

    def status_of(self, activation: Activation) -> str:
        """The activation's status as stored now, without asking the partner."""
        return str(self.service.lifecycle.load(int(activation.activation_id)).status)

    def posted_to(self, url: str) -> list[Posted]:
        return [p for p in self.session.posted if p.url == url]

    def partner_of(self, activation: Activation) -> FakePartner:
        return next(p for p in self.partners if p.name == activation.partner)
