"""Test support for the account area: services over moto with a fixed clock, cheap argon2 and a recording mailer."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from unittest import mock

from moto import mock_aws
from pynamodb.models import Model

from chalicelib.config import Settings, settings_from_env
from chalicelib.domain.clock import FixedClock
from chalicelib.services import account_rights, accounts, runtime_settings, signin, wallet
from chalicelib.services.account_rights import AccountRights
from chalicelib.services.accounts import AccountsService
from chalicelib.services.api_keys import ApiKeys
from chalicelib.services.passwords import Argon2Params, Passwords
from chalicelib.services.sessions import Credentials
from chalicelib.services.signin import SignIn
from chalicelib.services.webhook_settings import WebhookSettings
from chalicelib.store.accounts import Account, Credential, LoginThrottle, OneTimeToken
from chalicelib.store.base import bind_models, connection
from chalicelib.store.ledger import Claim, LedgerEntry
from chalicelib.store.rate_limit import RateWindow
from chalicelib.store.runtime import ActivityEntry, RuntimeSetting

# Unit tests only: argon2id with tiny cost so hundreds of hashes take milliseconds. Integration tests run the real one.
CHEAP = Argon2Params(memory_kib=64, time_cost=1, parallelism=1)
PASSWORD = "correct horse battery"
IP = "203.0.113.7"
_TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")

_TRANSACTING_MODULES = (accounts, account_rights, signin, wallet)
# The account area's tables, plus those every HTTP request touches (maintenance switch, rate-limit windows).
_MODELS: tuple[type[Model], ...] = (Account, Credential, OneTimeToken, LoginThrottle, Claim, ActivityEntry, LedgerEntry,
                                    RuntimeSetting, RateWindow)


def unit_settings() -> Settings:
    return replace(settings_from_env({"STAGE": "local"}), dynamodb_endpoint=None, table_prefix="acct-",
                   mail_outbox_dir=None)


@contextlib.contextmanager
def moto_module() -> Iterator[Settings]:
    """One moto and one set of tables for a whole test module; `wipe_tables()` empties them between tests.

    The shared `moto_tables` fixture restarts moto and rebinds every model for each test, and each
    rebinding makes PynamoDB build new botocore clients that parse the DynamoDB service model again:
    seconds a test on a busy machine. Binding once a module keeps the clients, and only the tables
    the account area touches are made."""
    with mock_aws(), contextlib.ExitStack() as patches:
        settings = unit_settings()
        bind_models(settings)
        for model in _MODELS:
            model.create_table(wait=False, billing_mode="PAY_PER_REQUEST")
        # store.base.connection() builds a new client (and parses the service model) for every transaction.
        shared = connection()
        for module in _TRANSACTING_MODULES:
            patches.enter_context(mock.patch.object(module, "connection", lambda: shared))
        yield settings


def wipe_tables() -> None:
    for model in _MODELS:
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    runtime_settings.clear_cache()


@dataclass
class SentMail:
    to: str
    subject: str
    body: str

    @property
    def token(self) -> str:
        found = _TOKEN.search(self.body)
        assert found, self.body
        return found.group(1)


@dataclass
class RecordingMailer:
    sent: list[SentMail] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> str:
        self.sent.append(SentMail(to, subject, body))
        return f"msg_{len(self.sent)}"

    def last_to(self, to: str) -> SentMail:
        return [m for m in self.sent if m.to == to][-1]


class Harness:
    """Every account service wired over the moto tables, sharing one clock and one mailer."""

    def __init__(self, settings: Settings, passwords: Passwords | None = None) -> None:
        self.settings = settings
        self.clock = FixedClock()
        self.mailer = RecordingMailer()
        self.accounts = AccountsService(settings, self.clock, self.mailer, passwords or Passwords(CHEAP))
        self.signin = SignIn(self.accounts)
        self.rights = AccountRights(self.accounts)
        self.credentials = Credentials(self.clock, settings.session_ttl_seconds)
        self.api_keys = ApiKeys(self.credentials, self.clock, settings.activity_retention_days)
        self.webhooks = WebhookSettings(self.clock, settings.activity_retention_days)

    def registered(self, email: str = "ann@example.com") -> Account:
        return self.accounts.register(email, PASSWORD, self.settings.agreement_version, IP)

    def verified(self, email: str = "ann@example.com") -> Account:
        account = self.registered(email)
        self.accounts.verify_email(self.mailer.last_to(email).token, IP)
        self.clock.advance(1)
        return self.accounts.get(account.account_id)

    def session(self, email: str = "ann@example.com") -> str:
        token = self.signin.login(email, PASSWORD, IP).token
        self.clock.advance(1)
        return token
