"""Fixtures the unit suites share: moto tables kept a whole module, and each area's harness over moto."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

from app import app  # imported at collection: importing it binds the models, which must not undo a test's moto tables
from chalicelib.api import accounts as accounts_api
from chalicelib.config import Settings
from tests.unit.accounts_support import Api, Harness, wipe_tables
from tests.unit.activation_support import Desk
from tests.unit.admin_harness import AdminHarness
from tests.unit.moto_support import shared_moto_tables
from tests.unit.stripe_fake import FakeGateway, new_account


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
    monkeypatch.setattr(accounts_api, "services", lambda: bundle)
    with Client(app) as client:
        yield client


@pytest.fixture
def api(rest_client: Client, h: Harness) -> Api:
    """The account routes as a client calls them: JSON bodies, bearer tokens."""
    return Api(rest_client, h)
