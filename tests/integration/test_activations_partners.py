"""Activations against DynamoDB Local and simulators of our own over real HTTP: each code path on its own,
failover between two partners, a partner timing out, lifetimes running out, and 200 orders racing on one account.

Each test names its partners uniquely, so the stack's scheduler (which polls and expires only the stack's
own partner) leaves these activations to the test, which runs the jobs itself.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
import requests

from chalicelib.config import PartnerSettings, Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.ids import new_id
from chalicelib.providers.registry import build_partners
from chalicelib.services.activations.facade import Activations
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from infra.local.simulator.server import SimulatorHandle
from tests.clock import FixedClock
from tests.support import activations_facade, customer_with_key

pytestmark = pytest.mark.integration


def desk(settings: Settings, *handles: SimulatorHandle, clock: Clock | None = None, **overrides: Any) -> Activations:
    """The facade over these simulators as partners (in this order of preference), prices loaded."""
    partners = tuple(PartnerSettings(new_id("sim"), "sms-activate", h.url, "sim-key", priority=-i)
                     for i, h in enumerate(handles))
    configured = replace(settings, partners=partners, **overrides)
    facade = activations_facade(configured, build_partners(configured, SystemClock()), clock or SystemClock())
    facade.refresh_prices()
    return facade


def configure(handle: SimulatorHandle, **config: Any) -> None:
    requests.post(f"{handle.url}/_sim/config", json=config, timeout=5).raise_for_status()


def calls(handle: SimulatorHandle) -> dict[str, int]:
    return dict(requests.get(f"{handle.url}/_sim/state", timeout=5).json()["calls"])


def account(settings: Settings, balance_cents: int) -> Account:
    return Account.get(customer_with_key(settings, balance_cents).account_id)


def balance_and_ledger(account_id: str) -> tuple[int, int]:
    entries = list(LedgerEntry.query(account_id, consistent_read=True))
    return int(Account.get(account_id, consistent_read=True).balance_cents), sum(int(e.amount_cents) for e in entries)



def test_on_demand__looking_at_the_activation_asks_the_partner(stack_settings, sims):
    # Given a partner whose SMS is there but who pushes nothing
    sim = sims(sms_delay_seconds=0)
    facade = desk(stack_settings, sim, status_refresh_min_seconds=0)
    user = account(stack_settings, 1000)
    activation = facade.order(user, OrderRequest("wa", 0))
    # When the user looks at the activation
    shown = facade.get(user.account_id, int(activation.activation_id))
    # Then the code came from that look, through one status call
    assert (shown.status, [s.source for s in shown.sms]) == ("RECEIVED", ["on_demand"])
    assert shown.sms[0].code and shown.sms[0].text.startswith("Your WhatsApp code")
    assert calls(sim)["getStatus"] == 1


def test_poll__one_call_per_cycle_whatever_the_number_of_activations(stack_settings, sims):
    # Given 20 numbers at one partner, every SMS already there
    sim = sims(sms_delay_seconds=0)
    facade = desk(stack_settings, sim)
    user = account(stack_settings, 5000)
    orders = [facade.order(user, OrderRequest("tg", 0)) for _ in range(20)]
    # When the poller runs once
    changed = facade.poll_partners()
    # Then one getActiveActivations call brought all 20 codes in
    assert list(changed.values()) == [20]
    assert calls(sim)["getActiveActivations"] == 1
    shown = [Activation.get(a.activation_id) for a in orders]
    assert {(a.status, a.sms[0].source) for a in shown} == {("RECEIVED", "poll")}


def test_failover__a_partner_out_of_numbers_hands_over_to_the_next(stack_settings, sims):
    # Given two partners with stock in the price list, the preferred one emptied since
    first, second = sims(), sims()
    facade = desk(stack_settings, first, second)
    configure(first, stock=0)
    user = account(stack_settings, 1000)
    # When a number is ordered
    activation = facade.order(user, OrderRequest("tg", 0))
    # Then the first said NO_NUMBERS and the second issued the number; the user paid once
    assert activation.status == "WAITING"
    assert activation.partner == facade.partners[1].name
    assert calls(first)["getNumber"] == 1
    assert balance_and_ledger(user.account_id)[0] == 1000 - int(activation.price_cents)


def test_partner_timeout__the_order_fails_and_is_refunded(stack_settings, sims):
    # Given the only partner answering after 1.5 s and a read timeout of 0.5 s
    slow = sims()
    facade = desk(stack_settings, slow, partner_read_timeout_seconds=0.5)
    configure(slow, latency_ms=1500)
    user = account(stack_settings, 1000)
    # When a number is ordered
    activation = facade.order(user, OrderRequest("tg", 0))
    # Then the purchase was tried once (never retried: it could rent a second number), the order ended FAILED,
    # and the money is back
    assert calls(slow)["getNumber"] == 1
    assert activation.status == "FAILED"
    assert balance_and_ledger(user.account_id) == (1000, 1000)


def test_expire__timeout_refunds_and_cancels_at_the_partner(stack_settings, sims):
    # Given a number with no SMS and a clock we move
    sim = sims()
    clock = FixedClock(time.time())
    facade = desk(stack_settings, sim, clock=clock)
    user = account(stack_settings, 1000)
    activation = facade.order(user, OrderRequest("tg", 0))
    # When its lifetime is over and the expiry job runs
    clock.advance(facade.settings.activation_lifetime_seconds + 1)
    facade.expire_overdue_activations()
    # Then it timed out, the money is back, and the partner's number was canceled
    assert Activation.get(activation.activation_id).status == "TIMEOUT"
    assert balance_and_ledger(user.account_id) == (1000, 1000)
    sim_state = requests.get(f"{sim.url}/_sim/state", timeout=5).json()["activations"]
    assert [a["status"] for a in sim_state] == ["CANCELED"]


def test_order__200_racing_orders_with_money_for_50_never_overspend(stack_settings, sims):
    # Given an account with exactly enough for 50 numbers
    # (Orders stuck in contention stay PENDING for seconds; the stack's own resolve job, 2 s here, would fail and
    # refund them. A clock a day ahead keeps these out of its reach, so the count below is exact.)
    sim = sims()
    facade = desk(stack_settings, sim, clock=FixedClock(time.time() + 86400))
    price = facade.catalog.quote("tg", 0, None)[0].price_cents
    user = account(stack_settings, 50 * price)

    def order(_: int) -> str:
        try:
            return str(facade.order(user, OrderRequest("tg", 0)).status)
        except InsufficientBalance:
            return "NO_BALANCE"

    # When 200 orders race on 8 threads
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(order, range(200)))
    # Then exactly 50 got a number, the rest were refused, and the balance is 0 and equals the ledger
    assert (outcomes.count("WAITING"), outcomes.count("NO_BALANCE")) == (50, 150)
    assert balance_and_ledger(user.account_id) == (0, 0)
    assert sorted(a.status for a in Activation.by_account.query(user.account_id)) == ["WAITING"] * 50
    entries = Wallet(SystemClock(), DynamoMoneyStore()).entries(user.account_id, limit=500)
    charges = [e for e in entries if e.kind == LedgerKind.ACTIVATION_CHARGE.value]
    assert len({e.cause_id for e in charges}) == len(charges) == 50


def test_order__concurrent_retries_with_one_idempotency_key_buy_once(stack_settings, sims):
    # Given a client that fires the same order 10 times at once with one Idempotency-Key
    sim = sims()
    facade = desk(stack_settings, sim)
    user = account(stack_settings, 1000)

    def order(_: int) -> int:
        return int(facade.order(user, OrderRequest("tg", 0), "same-key").activation_id)

    # When they all land
    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = set(pool.map(order, range(10)))
    # Then they all got the one activation, bought and paid once
    assert len(ids) == 1
    assert calls(sim)["getNumber"] == 1
    assert balance_and_ledger(user.account_id)[1] == 1000 - int(Activation.get(ids.pop()).price_cents)
