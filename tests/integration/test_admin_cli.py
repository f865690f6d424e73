"""`bin/admin` as an operator runs it (a subprocess, the stack's environment) against DynamoDB Local and the app."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.platform import runtime_settings
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card
from tests.integration.helpers_security import emails_to
from tests.support import eventually, refresh_prices, sms_only_on_demand

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "violet-harbour-lantern-42"
ORDER = {"service": "tg", "country": 187}


@dataclass(frozen=True)
class Ran:
    code: int
    out: dict[str, Any]
    err: str


@pytest.fixture
def admin(stack) -> Callable[..., Ran]:
    def run(*args: str) -> Ran:
        done = subprocess.run([sys.executable, "bin/admin", *args], cwd=ROOT, env=stack.env(), capture_output=True,
                              text=True, timeout=120)
        return Ran(done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr)

    return run


@pytest.fixture
def slow_sms(stack) -> Iterator[None]:
    """The simulator holds SMS back, so a number stays WAITING (refundable) for as long as a test needs."""
    with sms_only_on_demand(stack):
        yield


def _account(admin: Callable[..., Ran], balance_cents: int) -> dict[str, Any]:
    created = admin("create-account", f"{new_id('ops')}@example.com", "--verified", "--balance-cents",
                    str(balance_cents), "--password", PASSWORD)
    assert created.code == 0, created.err
    return created.out


def _login(stack, email: str) -> requests.Response:
    return requests.post(f"{stack.app_url}/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _order(stack, secret: str) -> requests.Response:
    return requests.post(f"{stack.app_url}/v1/activations", json=ORDER, headers=_auth(secret), timeout=30)


def _kinds(account_id: str) -> list[tuple[str, int]]:
    return [(e.kind, int(e.amount_cents)) for e in LedgerEntry.query(account_id, consistent_read=True)]


def test_create_account__verified_with_opening_balance(admin, stack, stack_settings):
    # When the operator creates an account with 1500 cents
    shown = _account(admin, 1500)
    # Then it is active, can sign in, and holds the money as one ledger adjustment
    assert (shown["status"], shown["balance_cents"]) == ("active", 1500)
    assert _login(stack, shown["email"]).status_code == 200
    assert _kinds(shown["account_id"]) == [(LedgerKind.ADJUSTMENT.value, 1500)]


def test_block__forfeits_the_remaining_balance_once_and_locks_the_user_out(admin, stack, stack_settings, slow_sms):
    # Given a user with 1000 cents, a session, an API key and a waiting number
    refresh_prices(stack_settings)
    shown = _account(admin, 1000)
    session = _login(stack, shown["email"]).json()["token"]
    api_key = requests.post(f"{stack.app_url}/v1/api-keys", headers=_auth(session), timeout=10).json()["api_key"]
    ordered = _order(stack, api_key)
    assert ordered.status_code == 201, ordered.text
    # When the operator blocks the account
    blocked = admin("block", shown["email"], "--reason", "card fraud")
    # Then the number was refunded and exactly the remaining 1000 cents were forfeited by one entry
    assert blocked.code == 0, blocked.err
    assert blocked.out["forfeited_cents"] == 1000
    assert [a["status"] for a in blocked.out["activations_revoked"]] == ["REVOKED"]
    forfeitures = [k for k in _kinds(shown["account_id"]) if k[0] == LedgerKind.FORFEITURE.value]
    assert forfeitures == [(LedgerKind.FORFEITURE.value, -1000)]
    assert Account.get(shown["account_id"], consistent_read=True).balance_cents == 0
    # And the user can no longer sign in, use the key or the session, or order
    assert _login(stack, shown["email"]).json()["error"]["code"] == "ACCOUNT_BLOCKED"
    assert requests.get(f"{stack.app_url}/v1/me", headers=_auth(api_key), timeout=10).status_code in (401, 403)
    assert requests.get(f"{stack.app_url}/v1/me", headers=_auth(session), timeout=10).status_code in (401, 403)
    assert _order(stack, api_key).status_code in (401, 403)
    # And the user was told why
    assert any("card fraud" in str(m.get_content()) for m in emails_to(stack.outbox, shown["email"]))


def test_block__a_second_block_exits_1_and_writes_nothing(admin, stack_settings):
    # Given a blocked account
    shown = _account(admin, 300)
    assert admin("block", shown["email"], "--reason", "abuse").code == 0
    ledger = _kinds(shown["account_id"])
    # When it is blocked again
    again = admin("block", shown["email"], "--reason", "abuse again")
    # Then the CLI refuses with a clear message and the ledger did not move
    assert again.code == 1
    assert again.out["error"]["code"] == "ALREADY_BLOCKED" and "already blocked" in again.err
    assert _kinds(shown["account_id"]) == ledger


def test_bad_input__unknown_email_and_adjustment_below_zero_exit_1(admin, stack_settings):
    # Given 200 cents
    shown = _account(admin, 200)
    # When the operator names nobody, or takes 201 cents
    unknown = admin("show", "nobody-at-all@example.com")
    below = admin("adjust", shown["email"], "-201", "--reason", "typo")
    # Then both exit 1 with a message, and the balance is untouched
    assert (unknown.code, below.code) == (1, 1)
    assert "nobody-at-all@example.com" in unknown.err
    assert below.out["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert _kinds(shown["account_id"]) == [(LedgerKind.ADJUSTMENT.value, 200)]


def test_revoke__refunds_a_waiting_number(admin, stack, stack_settings, slow_sms):
    # Given a waiting number bought from 1000 cents
    refresh_prices(stack_settings)
    shown = _account(admin, 1000)
    session = _login(stack, shown["email"]).json()["token"]
    activation = _order(stack, session).json()
    # When the operator revokes it
    revoked = admin("revoke", str(activation["id"]), "--reason", "number reported stolen")
    # Then it is REVOKED and the price is back on the balance
    assert revoked.code == 0, revoked.err
    assert (revoked.out["activation"]["status"], revoked.out["activation"]["refunded_cents"]) == \
        ("REVOKED", activation["price_cents"])
    me = requests.get(f"{stack.app_url}/v1/me", headers=_auth(session), timeout=10).json()
    assert me["balance_cents"] == 1000
    seen = requests.get(f"{stack.app_url}/v1/activations/{activation['id']}", headers=_auth(session), timeout=10)
    assert seen.json()["status"] == "REVOKED"


def test_maintenance__public_api_503_while_stripe_still_credits_then_back(admin, stack, stack_settings):
    # Given a user with a saved card
    shown = _account(admin, 0)
    session = _login(stack, shown["email"]).json()["token"]
    setup = requests.post(f"{stack.app_url}/v1/topups/card-setup", headers=_auth(session), timeout=15).json()
    card = confirm_setup_intent_with_test_card(stack.stripe_url, setup["publishable_key"],
                                               setup["client_secret"].split("_secret")[0], setup["client_secret"])
    me = lambda: requests.get(f"{stack.app_url}/v1/me", headers=_auth(session), timeout=10)  # noqa: E731
    try:
        # When the operator switches maintenance on
        assert admin("maintenance", "on", "--message", "Upgrading, back at 14:00 UTC").code == 0
        down = eventually(me, lambda r: r.status_code == 503, seconds=10)
        # Then the public API answers 503 with the message and Retry-After
        assert down.json()["error"] == {"code": "MAINTENANCE", "message": "Upgrading, back at 14:00 UTC"}
        assert int(down.headers["Retry-After"]) > 0
        # And a card payment made meanwhile is still credited by Stripe's webhook
        account = Account.get(shown["account_id"], consistent_read=True)
        gateway = StripeGateway(stack_settings.stripe_secret_key, stack_settings.stripe_api_base,
                                stack_settings.stripe_webhook_secret)
        TopUps(gateway, stack_settings, SystemClock()).start(account, 700, card)
        credited = eventually(lambda: Account.get(shown["account_id"], consistent_read=True).balance_cents,
                              lambda balance_cents: balance_cents == 700)
        assert credited == 700, "the top-up was not credited during maintenance"
        # When it is switched off, Then the API answers again
        assert admin("maintenance", "off").code == 0
        back = eventually(me, lambda r: r.status_code == 200, seconds=10)
        assert back.json()["balance_cents"] == 700
    finally:
        runtime_settings.set_value(runtime_settings.MAINTENANCE, {"on": False, "message": ""}, SystemClock())


def test_reconcile__clean_ledger_passes_and_a_planted_discrepancy_fails(admin, stack_settings):
    # Given an account whose books were kept by the services
    shown = _account(admin, 900)
    assert admin("adjust", shown["email"], "-100", "--reason", "correction").code == 0
    # When reconciled, Then it passes
    clean = admin("reconcile", "--email", shown["email"])
    assert (clean.code, clean.out.get("clean")) == (0, True), clean.out
    # Given a balance changed behind the ledger's back
    Account(shown["account_id"]).update(actions=[Account.balance_cents.add(5)])
    try:
        # When reconciled (that account, and everything)
        scoped = admin("reconcile", "--email", shown["email"])
        everything = admin("reconcile", "--full")
        # Then both exit non-zero and name the account's balance
        assert scoped.code == 3 and everything.code == 3
        found = [(d["check"], d["account_id"]) for d in scoped.out["discrepancies"]]
        assert found == [("balance_mismatch", shown["account_id"])]
        assert ("balance_mismatch", shown["account_id"]) in [(d["check"], d["account_id"])
                                                             for d in everything.out["discrepancies"]]
    finally:
        Account(shown["account_id"]).update(actions=[Account.balance_cents.add(-5)])  # the stack is shared
