"""Test helpers shared across suites: an account with money and an API key, made through the public services."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from chalicelib.config import Settings, settings_from_env
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.domain.scopes import ALL_SCOPES
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.base import bind_models
from chalicelib.store.money import DynamoMoneyStore

if TYPE_CHECKING:
    from chalicelib.providers.base import Partner
    from chalicelib.services.activations.facade import Activations
    from chalicelib.services.platform.user_webhooks import UserWebhooks

T = TypeVar("T")
GRACE_SECONDS = 2  # CANCEL_GRACE_SECONDS of the test stack (the `stack` fixture)


@dataclass(frozen=True)
class Customer:
    account_id: str
    email: str
    api_key: str


def customer_with_key(settings: Settings, balance_cents: int = 0, *, email: str | None = None) -> Customer:
    """A verified account holding `balance_cents` (an admin adjustment in the ledger) and a fresh API key.

    `settings` must be bound to the tables the code under test uses (the `stack_settings` or `moto_tables`
    fixture), so the running app sees the same rows.
    """
    clock = SystemClock()
    mailer = OutboxMailer(settings.mail_outbox_dir or ".local/outbox", settings.mail_from)
    account = AccountsService(settings, clock, mailer).create_verified_account(
        email or f"{new_id('user')}@example.com")
    if balance_cents:
        Wallet(clock, DynamoMoneyStore()).post(account.account_id, balance_cents, LedgerKind.ADJUSTMENT, new_id("test"),
                                               memo="test opening balance")
    return _with_key(settings, account.account_id, account.email)


def unverified_customer_with_key(settings: Settings) -> Customer:
    """A registered account whose email is not verified yet (it may look around, not order), with an API key."""
    clock = SystemClock()
    mailer = OutboxMailer(settings.mail_outbox_dir or ".local/outbox", settings.mail_from)
    account = AccountsService(settings, clock, mailer).register(
        f"{new_id('user')}@example.com", "quiet-Lantern-48-orbit", settings.agreement_version, "127.0.0.1")
    return _with_key(settings, account.account_id, account.email)


def _with_key(settings: Settings, account_id: str, email: str) -> Customer:
    # Every scope: these tests exercise what a route does; tests/integration/test_key_scopes.py what a scope allows.
    issued = Credentials(SystemClock(), settings.session_ttl_seconds).create_api_key(account_id, "tests", ALL_SCOPES)
    return Customer(account_id=account_id, email=email, api_key=issued.api_key)


def activations_facade(settings: Settings, partners: Sequence[Partner], clock: Clock,
                       webhooks: UserWebhooks | None = None) -> Activations:
    """The activations facade as the composition root builds it, over these partners, this clock, a wallet of its
    own and (unless given) the user webhooks the settings make."""
    from chalicelib import wiring

    return wiring.build_activations(settings, partners, clock, Wallet(clock, DynamoMoneyStore(), settings.write_shards),
                                    webhooks)


def refresh_prices(settings: Settings) -> dict[str, int]:
    """Load the partners' price lists into the catalog now, rather than waiting for the scheduled job."""
    from chalicelib.providers.registry import build_partners

    return activations_facade(settings, build_partners(settings, SystemClock()), SystemClock()).refresh_prices()


def priced_settings(stack: Any) -> Settings:
    """The stack's settings with this process's models bound to them and the partners' prices in the catalog."""
    settings = settings_from_env(stack.env())
    bind_models(settings)
    refresh_prices(settings)
    return settings


@contextmanager
def sms_only_on_demand(stack: Any) -> Iterator[None]:
    """The simulator delivers no SMS by itself (only through `deliver_sms`) until the block ends.

    Its default, an SMS 3 s after a number is issued, races with tests that cancel after the early-cancel window.
    """
    config_url = f"{stack.simulator_url}/_sim/config"
    before = requests.get(f"{stack.simulator_url}/_sim/state", timeout=5).json()["config"]["sms_delay_seconds"]
    requests.post(config_url, json={"sms_delay_seconds": 3600}, timeout=5).raise_for_status()
    try:
        yield
    finally:
        requests.post(config_url, json={"sms_delay_seconds": before}, timeout=5).raise_for_status()


@contextmanager
def priced_on_demand(stack: Any) -> Iterator[Settings]:
    """`priced_settings` while the simulator sends SMS only through `deliver_sms` (a module's whole run)."""
    with sms_only_on_demand(stack):
        yield priced_settings(stack)


def deliver_sms(stack: Any, phone: str, text: str) -> None:
    """The SMS reaches the partner now (the simulator's test control)."""
    requests.post(f"{stack.simulator_url}/_sim/deliver", json={"phone": phone, "text": text},
                  timeout=5).raise_for_status()


class _FromAddress(requests.adapters.HTTPAdapter):
    def __init__(self, ip: str) -> None:
        self._ip = ip
        super().__init__(pool_maxsize=16)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self._ip, 0), **kwargs)


def client_at(ip: str) -> requests.Session:
    """An HTTP client whose connections come from `ip` (any 127.x.y.z reaches the local stack).

    The stack sees every test as 127.0.0.1, and the per-IP budgets (failed credentials, sign-in) are real:
    a test that guesses keys by the hundred does it as another client, so the tests after it are not banned.
    """
    session = requests.Session()
    adapter = _FromAddress(ip)
    session.mount("http://", adapter)
    return session


def eventually(call: Callable[[], T], done: Callable[[T], bool], seconds: float = 15) -> T:
    """Asks `call` every 0.3 s until `done` holds for its answer or `seconds` pass; returns the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        value = call()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def wait_until(check: Callable[[], bool], seconds: float = 10, every: float = 0.1) -> bool:
    """Whether `check` came true within `seconds`, asked every `every` seconds."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def sleep_past_grace(bought_at: float) -> None:
    """Waits until the early-cancel window of a number bought at `bought_at` (time.monotonic()) has closed."""
    time.sleep(max(0.0, bought_at + GRACE_SECONDS + 0.2 - time.monotonic()))


@contextmanager
def second_app(stack: Any, partners: list[dict[str, Any]], log: Path, *, port: int | None = None) -> Iterator[str]:
    """Another app process on the stack's DynamoDB Local whose PARTNERS_JSON is `partners` (the session stack's app
    knows only its own), no scheduler: a couple of seconds, not a whole second stack. This process's models are bound
    to it and its partners' prices are in the catalog. Yields its URL; stopped after the block."""
    from infra.local.stack import ROOT, free_port

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**stack.env(), "PARTNERS_JSON": json.dumps(partners), "APP_PORT": str(port)}
    with open(log, "ab") as out:
        app = subprocess.Popen([sys.executable, "-m", "infra.local.serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: _healthy(url), seconds=60), log.read_text(errors="replace")[-800:]
        settings = settings_from_env(env)
        bind_models(settings)
        refresh_prices(settings)
        yield url
    finally:
        app.terminate()
        app.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).ok
    except requests.ConnectionError:
        return False
