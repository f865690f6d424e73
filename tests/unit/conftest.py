"""Fixtures the unit suites share: moto tables kept a whole module, and each area's harness over moto."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from chalice.test import Client

from app import app  # imported at collection: importing it binds the models, which must not undo a test's moto tables
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.services.money.stripe_events import StripeEvents
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from tests.clock import FixedClock
from tests.unit.accounts_support import Api, Harness, wipe_tables
from tests.unit.activation_support import Desk
from tests.unit.admin_harness import AdminHarness
from tests.unit.moto_support import shared_moto_tables
from tests.unit.stripe_fake import NOW, FakeGateway, charge_saved_card, intent_of, new_account, signed


@pytest.fixture(scope="module")
def module_tables(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Every table made once for the whole test module (not per test): its tests keep apart by their own ids,
    or wipe what they use. Not for a module that also uses `moto_tables`, which resets moto per test."""
    with shared_moto_tables(str(tmp_path_factory.mktemp("outbox"))) as settings:
        yield settings


@pytest.fixture
def acc(module_tables: Settings) -> str:
    """A fresh verified account's id, with nothing on it."""
    return new_account()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def pay(module_tables: Settings, gateway: FakeGateway) -> Callable[[str, int], str]:
    """Tops an account up by card through the public services: pay(account_id, amount) -> payment_intent_id."""
    topups = TopUps(gateway, module_tables, FixedClock(NOW))
    events = StripeEvents(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), wiring.mailer())

    def top_up(account_id: str, amount_cents: int) -> str:
        intent_id = charge_saved_card(topups, account_id, amount_cents).payment_intent_id
        events.receive(*signed("payment_intent.succeeded", intent_of(gateway, intent_id)))
        return intent_id

    return top_up


@pytest.fixture
def h(module_tables: Settings) -> Harness:
    """The account services over the module's tables, emptied of the last test's accounts."""
    wipe_tables()
    return Harness(module_tables)


@pytest.fixture
def office(moto_tables: Settings) -> AdminHarness:
    """The admin service (what an operator runs) over fresh moto tables."""
    return AdminHarness(moto_tables)


@pytest.fixture
def desk(moto_tables: Settings) -> Desk:
    """Activations over fresh moto tables with one fake partner."""
    return Desk(moto_tables)


@pytest.fixture
def rest_client(h: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """Chalice's test client over the app, the account routes wired to the harness's services."""
    bundle = h.rest_services()
    monkeypatch.setattr(wiring, "account_services", lambda: bundle)
    with Client(app) as client:
        yield client


@pytest.fixture
def api(rest_client: Client, h: Harness) -> Api:
    """The account routes as a client calls them: JSON bodies, bearer tokens."""
    return Api(rest_client, h)
