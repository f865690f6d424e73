"""Test support for the account area: services over moto with a fixed clock, cheap argon2 and a recording mailer.

The `h` fixture (tests/unit/conftest.py) gives each test a `Harness` over the module's emptied tables.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from chalice.test import Client
from pynamodb.models import Model

from chalicelib.config import Settings
from chalicelib.services.accounts.api_keys import ApiKeys
from chalicelib.services.accounts.passwords import Argon2Params, Passwords
from chalicelib.services.accounts.recovery import Recovery
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.accounts.rights import AccountRights
from chalicelib.services.accounts.security_emails import SecurityNotices
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.accounts.signin import SignIn
from chalicelib.services.accounts.webhook_settings import WebhookSettings, webhook_policy
from chalicelib.services.platform import runtime_settings
from chalicelib.store.accounts import Account, Credential, LoginThrottle, OneTimeToken
from chalicelib.store.ledger import Claim, LedgerEntry
from chalicelib.store.rate_limit import RateWindow
from chalicelib.store.runtime import ActivityEntry, RuntimeSetting
from chalicelib.wiring import AccountServices
from tests.clock import FixedClock
from tests.fake_dns import FakeDns

# Unit tests only: argon2id with tiny cost so hundreds of hashes take milliseconds. Integration tests run the real one.
CHEAP = Argon2Params(memory_kib=64, time_cost=1, parallelism=1)
PASSWORD = "correct horse battery"
IP = "203.0.113.7"
_TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")

# The account area's tables, plus those every HTTP request touches (maintenance switch, rate-limit windows).
_MODELS: tuple[type[Model], ...] = (Account, Credential, OneTimeToken, LoginThrottle, Claim, ActivityEntry, LedgerEntry,
                                    RuntimeSetting, RateWindow)


def wipe_tables() -> None:
    """Empties the tables the account area writes: cheaper than moto's reset and making every table again."""
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


class CountingPasswords(Passwords):
    """Cheap argon2id that counts the hashes it makes and records each hash a password is verified against."""

    def __init__(self) -> None:
        super().__init__(CHEAP)
        self.hashed = 0
        self.verified_against: list[str] = []

    def hash(self, password: str) -> str:
        self.hashed += 1
        return super().hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:
        self.verified_against.append(password_hash)
        return super()._verify(password_hash, password)


class Api:
    """The account routes over HTTP as Chalice's test client serves them (the `api` fixture, tests/unit/conftest.py)."""

    def __init__(self, client: Client, harness: Harness) -> None:
        self.client = client
        self.h = harness

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             raw: bytes | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        return self.client.http.request(method, path, headers=headers, body=payload)

    def session(self) -> str:
        self.h.verified()
        reply = self.call("POST", "/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD})
        return str(reply.json_body["token"])


class Harness:
    """Every account service wired over the moto tables, sharing one clock and one mailer."""

    def __init__(self, settings: Settings, passwords: Passwords | None = None) -> None:
        self.settings = settings
        self.clock = FixedClock()
        self.mailer = RecordingMailer()
        self.accounts = AccountsService(settings, self.clock, self.mailer, passwords or Passwords(CHEAP))
        self.signin = SignIn(self.accounts)
        self.recovery = Recovery(self.signin)
        self.rights = AccountRights(self.accounts)
        self.credentials = Credentials(self.clock, settings.session_ttl_seconds)
        self.api_keys = ApiKeys(self.credentials, self.clock, settings.activity_retention_days)
        self.dns = FakeDns()
        self.webhooks = WebhookSettings(self.clock, settings.activity_retention_days,
                                        webhook_policy(settings, self.dns))
        self.notices = SecurityNotices(self.mailer, settings.public_base_url, self.clock)

    def rest_services(self) -> AccountServices:
        """These services as the account routes get them (monkeypatch `chalicelib.wiring.account_services`)."""
        return AccountServices(accounts=self.accounts, signin=self.signin, recovery=self.recovery, rights=self.rights,
                               api_keys=self.api_keys, webhooks=self.webhooks, notices=self.notices)

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
