"""Arrange state for benchmarks through the public services (accounts, wallet, API keys), as the tests do."""
from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.accounts.api_keys import ApiKeys
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore


def funded_account(settings: Settings, balance_cents: int) -> Account:
    """A verified, active account holding `balance_cents` (credited as an adjustment)."""
    mailer = OutboxMailer(settings.mail_outbox_dir or ".local/outbox", settings.mail_from)
    account = AccountsService(settings, SystemClock(), mailer).create_verified_account(f"{new_id('bench')}@bench.test")
    if balance_cents:
        Wallet(SystemClock(), DynamoMoneyStore()).post(account.account_id, balance_cents, LedgerKind.ADJUSTMENT,
                                                       new_id("fund"), memo="bench funds")
    return Account.get(account.account_id, consistent_read=True)


def api_key_for(settings: Settings, account_id: str) -> str:
    """A fresh API key for the account, as POST /v1/api-keys would issue it."""
    clock = SystemClock()
    keys = ApiKeys(Credentials(clock, settings.session_ttl_seconds), clock, settings.activity_retention_days)
    return keys.create(account_id, "bench", "127.0.0.1").api_key


def ledger_sum_cents(account_id: str) -> int:
    return sum(int(e.amount_cents) for e in LedgerEntry.query(account_id))
