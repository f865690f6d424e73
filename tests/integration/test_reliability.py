"""Money under load, repeats, crashes and partner faults on the local stack: nothing lost, nothing taken twice.

Sizes stay small in the normal suite; `make soak` (SOAK=1) runs the big ones. Every test ends by checking
the books: balance = sum of the ledger, balance ≥ 0, each cause written once.
"""
from __future__ import annotations

import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
import requests

from chalicelib.config import PartnerSettings, Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import DomainError, IllegalTransition, InsufficientBalance
from chalicelib.domain.ids import new_id
from chalicelib.providers.base import PartnerUnavailable
from chalicelib.providers.registry import build_partners
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.activations.batch_ordering import BatchOrdering, MultiServiceRequest
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.services.money.top_ups import TopUps
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.payments import TopUp
from chalicelib.store.rentals import Rental
from infra.local.simulator.server import SimulatorHandle, start_simulator
from tests.fake_partner import FakePartner
from tests.integration.reliability_support import (
    DiesAfterIssuing,
    DiesAroundRefund,
    LambdaDied,
    checked_books,
    fresh_event_id,
    kinds,
    order_outcome,
    post_order,
    post_payment_succeeded,
    simulator_config,
)
from tests.support import activations_facade, customer_with_key, priced_settings
from tests.unit.activation_support import Desk
from tests.unit.rental_support import RentDesk
from tests.unit.stripe_fake import FakeGateway

pytestmark = pytest.mark.integration

SOAK = os.environ.get("SOAK") == "1"
RACING_ORDERS, AFFORDABLE = (10_000, 2_500) if SOAK else (100, 25)
TOP_UPS, DELIVERIES = (120, 1_200) if SOAK else (30, 300)
THREADS = 16 if SOAK else 8
REQUESTS_PER_CREDENTIAL = 40  # under the stack's rate limit of 100 a credential in 5 s
RACE_OFFER = ("ds", 1)  # an offer no other test orders, so its stock is this test's alone


@pytest.fixture(scope="module")
def priced(stack: Any) -> Settings:
    return priced_settings(stack)


def test_order__racing_http_orders_on_one_account_never_overspend(stack, priced):
    # Given an account with exactly enough for AFFORDABLE numbers, signed in on several sessions
    service, country = RACE_OFFER
    facade = activations_facade(priced, build_partners(priced, SystemClock()), SystemClock())
    price = facade.catalog.quote(service, country, None)[0]
    customer = customer_with_key(priced, AFFORDABLE * price.price_cents)
    credentials = Credentials(SystemClock(), priced.session_ttl_seconds)
    sessions = []
    for _ in range(math.ceil(RACING_ORDERS / REQUESTS_PER_CREDENTIAL)):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {credentials.issue_session(customer.account_id).token}"
        sessions.append(session)

    def order(n: int) -> str:
        return order_outcome(*post_order(sessions[n % len(sessions)], stack.app_url, service, country))

    # When RACING_ORDERS orders race over HTTP from THREADS threads
    started = time.monotonic()
    with simulator_config(stack.simulator_url, stock={f"{service}:{country}": AFFORDABLE + 10},
                          balance_minor=10**9, sms_delay_seconds=3600), \
            ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = Counter(pool.map(order, range(RACING_ORDERS)))
    elapsed = time.monotonic() - started
    # Then exactly the affordable ones got a number, every other was refused for the balance, nothing else
    print(f"\n{RACING_ORDERS} racing orders in {elapsed:.1f} s ({RACING_ORDERS / elapsed:.0f}/s): {dict(outcomes)}")
    assert outcomes == {"WAITING": AFFORDABLE, "402:INSUFFICIENT_BALANCE": RACING_ORDERS - AFFORDABLE}
    # And the money is all spent, once per number
    balance, entries = checked_books(customer.account_id)
    assert balance == 0
    assert len(kinds(entries, LedgerKind.ACTIVATION_CHARGE)) == AFFORDABLE
    assert kinds(entries, LedgerKind.ACTIVATION_REFUND) == []


def _pending_top_ups(settings: Settings, count: int) -> list[TopUp]:
    """`count` top-ups charged through a Stripe only this test knows, over three accounts, waiting for events."""
    topups = TopUps(FakeGateway(), settings, SystemClock())
    accounts = [customer_with_key(settings).account_id for _ in range(3)]
    for account_id in accounts:
        topups.start_card_setup(Account.get(account_id))
    started = [topups.start(Account.get(accounts[n % 3]), 500 + 7 * n, "pm_card") for n in range(count)]
    return [TopUp.get(s.topup_id) for s in started]


def _intent(topup: TopUp) -> dict[str, Any]:
    return {"id": topup.payment_intent_id, "object": "payment_intent", "amount": topup.amount_cents,
            "amount_received": topup.amount_cents, "currency": "usd", "status": "succeeded",
            "metadata": {"account_id": topup.account_id, "topup_id": topup.topup_id}}


def test_webhook__storm_of_repeated_shuffled_and_replayed_events_credits_each_payment_once(stack, stack_settings):
    # Given TOP_UPS charged top-ups, and DELIVERIES payment_intent.succeeded deliveries for them: each delivered
    # many times (mostly under one event id, some under ids of their own), shuffled, the last tenth replays
    topups = _pending_top_ups(stack_settings, TOP_UPS)
    copies = DELIVERIES // TOP_UPS
    deliveries = [(fresh_event_id(str(t.payment_intent_id), c), _intent(t)) for t in topups for c in range(copies)]
    rng = random.Random(10)
    rng.shuffle(deliveries)
    storm, replays = deliveries[: len(deliveries) * 9 // 10], rng.sample(deliveries, len(deliveries) // 10)
    secret = stack_settings.stripe_webhook_secret

    def deliver(delivery: tuple[str, dict[str, Any]]) -> str:
        return post_payment_succeeded(stack.app_url, secret, *delivery)

    # When the storm is posted signed from THREADS threads, and the replays after it
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = Counter(pool.map(deliver, storm)) + Counter(pool.map(deliver, replays))
    elapsed = time.monotonic() - started
    # Then each payment was applied once and every other delivery was recognised as a repeat
    print(f"\n{len(storm) + len(replays)} events for {TOP_UPS} top-ups in {elapsed:.1f} s: {dict(outcomes)}")
    assert outcomes == {"applied": TOP_UPS, "duplicate": len(storm) + len(replays) - TOP_UPS}
    assert {TopUp.get(t.topup_id, consistent_read=True).status for t in topups} == {"credited"}
    # And each account holds exactly its top-ups, one ledger entry per PaymentIntent
    for account_id in {t.account_id for t in topups}:
        balance, entries = checked_books(account_id)
        own = [t for t in topups if t.account_id == account_id]
        assert balance == sum(int(t.amount_cents) for t in own)
        assert sorted(e.cause_id for e in entries) == sorted(str(t.payment_intent_id) for t in own)


CRASHES = {
    # where the Lambda dies → (the partner, whether the refund transaction dies before or after committing)
    "at_the_partner_call": (lambda: _failing(LambdaDied()), None),
    "after_the_number_was_issued_before_it_was_recorded": (DiesAfterIssuing, None),
    "before_the_refund_transaction": (lambda: _failing(_unavailable()), False),
    "after_the_refund_committed": (lambda: _failing(_unavailable()), True),
}


def _failing(error: BaseException) -> FakePartner:
    partner = FakePartner()
    partner.number_failure = error
    return partner


def _unavailable() -> Exception:
    return PartnerUnavailable("partner answered 500")


@pytest.mark.parametrize("crash", CRASHES)
def test_order__lambda_dying_mid_order_is_resolved_by_the_job_refunded_once(stack_settings, crash):
    # Given an account with 1000 cents whose order debits it, then the Lambda dies at `crash`
    # (the desk's clock is in 2027, out of the stack's own resolve job's reach)
    make_partner, refund_dies_after_commit = CRASHES[crash]
    desk = Desk(stack_settings, [make_partner()])
    if refund_dies_after_commit is not None:
        desk.service.lifecycle.wallet = DiesAroundRefund(desk.wallet, after_commit=refund_dies_after_commit)
    user = desk.account(1000)
    with pytest.raises(LambdaDied):
        desk.order(user)
    [activation] = Activation.by_account.query(user.account_id)
    price = int(activation.price_cents)
    was_refunded = refund_dies_after_commit is True
    assert activation.status == ("FAILED" if was_refunded else "PENDING")
    assert checked_books(user.account_id)[0] == (1000 if was_refunded else 1000 - price)
    # When a fresh process runs the resolve job past the resolve delay, twice
    desk.clock.advance(desk.settings.pending_resolve_after_seconds + 1)
    recovery = activations_facade(desk.settings, desk.partners, desk.clock)
    recovery.resolve_stale_pending()
    after_first = checked_books(user.account_id)
    recovery.resolve_stale_pending()
    # Then the order ended FAILED with the money back, refunded exactly once, and the second run changed nothing
    assert Activation.get(activation.activation_id, consistent_read=True).status == "FAILED"
    balance, entries = checked_books(user.account_id)
    assert balance == 1000
    assert [len(kinds(entries, k)) for k in (LedgerKind.ACTIVATION_CHARGE, LedgerKind.ACTIVATION_REFUND)] == [1, 1]
    assert [e.seq for e in entries] == [e.seq for e in after_first[1]]


def test_expire__lambda_dying_before_the_timeout_refund_is_refunded_once_on_the_next_run(stack_settings):
    # Given a number with no SMS whose lifetime is over, and a Lambda that dies as it writes the refund
    desk = Desk(stack_settings)
    user = desk.account(1000)
    activation = desk.order(user)
    desk.clock.advance(desk.settings.activation_lifetime_seconds + 1)
    desk.service.lifecycle.wallet = DiesAroundRefund(desk.wallet, after_commit=False)
    with pytest.raises(LambdaDied):
        desk.service.lifecycle.expire(activation)
    assert Activation.get(activation.activation_id, consistent_read=True).status == "WAITING"
    # When the next run of the expiry step (the job's per-activation work) ends it, and again
    recovery = activations_facade(desk.settings, desk.partners, desk.clock)
    recovery.lifecycle.expire(recovery.lifecycle.load(activation.activation_id))
    with pytest.raises(IllegalTransition):
        recovery.lifecycle.expire(recovery.lifecycle.load(activation.activation_id))
    # Then it timed out with the money back, refunded once
    assert Activation.get(activation.activation_id, consistent_read=True).status == "TIMEOUT"
    balance, entries = checked_books(user.account_id)
    assert balance == 1000 and len(kinds(entries, LedgerKind.ACTIVATION_REFUND)) == 1


@pytest.mark.parametrize("fault", [{"http_error_rate": 1.0}, {"garbage_rate": 1.0}], ids=["http_500", "garbage"])
def test_order__stack_partner_faults_fail_the_order_cleanly_and_refund(stack, priced, fault):
    # Given a user with 1000 cents and the stack's partner answering every call with `fault`
    customer = customer_with_key(priced, 1000)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {customer.api_key}"
    # When they order a number during the fault, and again once it is over
    with simulator_config(stack.simulator_url, **fault):
        during = post_order(session, stack.app_url, "tg", 0)
    after = post_order(session, stack.app_url, "tg", 0)
    # Then the first order ended FAILED (no 5xx) with the debit reversed, and the partner recovered for the second
    assert order_outcome(*during) == "FAILED", during
    assert order_outcome(*after) == "WAITING", after
    balance, entries = checked_books(customer.account_id)
    assert balance == 1000 - after[1]["price_cents"]
    assert len(kinds(entries, LedgerKind.ACTIVATION_REFUND)) == 1


@pytest.fixture
def own_simulator() -> Iterator[SimulatorHandle]:
    handle = start_simulator(sms_delay_seconds=3600.0)
    yield handle
    handle.stop()


@pytest.mark.parametrize("fault", [{"http_error_rate": 1.0}, {"garbage_rate": 1.0}, {"latency_ms": 1500}],
                         ids=["http_500", "garbage", "slower_than_the_read_timeout"])
def test_order__partner_faults_at_service_level_fail_and_refund(stack_settings, own_simulator, fault):
    # Given the only partner (a simulator of this test's own) answering with `fault`, a 0.5 s read timeout
    partner = PartnerSettings(new_id("sim"), "sms-activate", own_simulator.url, "sim-key")
    configured = replace(stack_settings, partners=(partner,), partner_read_timeout_seconds=0.5)
    facade = activations_facade(configured, build_partners(configured, SystemClock()), SystemClock())
    facade.refresh_prices()
    requests.post(f"{own_simulator.url}/_sim/config", json=fault, timeout=5).raise_for_status()
    user = Account.get(customer_with_key(stack_settings, 1000).account_id)
    # When a number is ordered
    started = time.monotonic()
    activation = facade.order(user, OrderRequest("tg", 0))
    # Then the order ended FAILED within about the timeout, and the money is back, refunded once
    assert activation.status == "FAILED"
    assert time.monotonic() - started < 3
    balance, entries = checked_books(user.account_id)
    assert balance == 1000 and len(kinds(entries, LedgerKind.ACTIVATION_REFUND)) == 1


RENTAL_RACE_ROUNDS = 12 if not os.environ.get("SOAK") else 100


def test_rental__racing_extend_cancel_and_finish_have_one_winner_and_at_most_one_refund(stack_settings):
    # Given rentals in their cancel window (no SMS), each raced by an extend, a cancel and a finish from threads
    desk = RentDesk(stack_settings)
    user = desk.account(100_000)
    outcomes: Counter[str] = Counter()
    for _ in range(RENTAL_RACE_ROUNDS):
        rental = desk.rent(user)
        rental_id = int(rental.rental_id)
        results = _race_extend_cancel_finish(desk, user.account_id, rental_id)
        outcomes.update(results)
        # Then one of cancel and finish ended it (never both), the extension was kept or given back, and the
        # rental's money is either all kept (finished) or all refunded once (canceled)
        final = Rental.get(rental_id, consistent_read=True)
        assert sum(r in ("cancel:ok", "finish:ok") for r in results) == 1, results
        assert final.status in ("CANCELED", "FINISHED") and final.pending_extension is None
        _, entries = checked_books(user.account_id)
        mine = [e for e in entries if e.cause_id.split(":")[0] == str(rental_id)]
        net = sum(int(e.amount_cents) for e in mine)
        assert net == (0 if final.status == "CANCELED" else -int(final.paid_cents)), results
        assert len([e for e in kinds(mine, LedgerKind.RENTAL_REFUND) if e.cause_id == str(rental_id)]) <= 1
    print(f"\n{RENTAL_RACE_ROUNDS} rental races: {dict(outcomes)}")


def _race_extend_cancel_finish(desk: RentDesk, account_id: str, rental_id: int) -> list[str]:
    """An extend, a cancel and a finish of one rental let go at once from three threads: what each got."""
    gate = threading.Barrier(3)
    acts = {"extend": lambda: desk.rentals.extend(account_id, rental_id, 4),
            "cancel": lambda: desk.rentals.cancel(account_id, rental_id),
            "finish": lambda: desk.rentals.finish(account_id, rental_id)}

    def race(name: str) -> str:
        gate.wait()
        try:
            acts[name]()
            return f"{name}:ok"
        except DomainError as refused:
            return f"{name}:{refused.code}"

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(race, acts))


def test_rental__recovery_runs_racing_on_a_crashed_rent_refund_it_once(stack_settings):
    # Given a rent whose Lambda died after the debit, while the partner was being asked
    desk = RentDesk(stack_settings)
    user = desk.account(1000)
    desk.rentals_partner.rent_failure = LambdaDied()
    with pytest.raises(LambdaDied):
        desk.rent(user)
    desk.clock.advance(desk.settings.pending_resolve_after_seconds + 1)
    # When four recovery runs race past the resolve delay
    with ThreadPoolExecutor(max_workers=4) as pool:
        resolved = sum(pool.map(lambda _: desk.rentals.upkeep.resolve_stale_pending(), range(4)))
    # Then the rental failed and was refunded exactly once
    balance, entries = checked_books(user.account_id)
    assert balance == 1000 and resolved >= 1
    assert [len(kinds(entries, k)) for k in (LedgerKind.RENTAL_CHARGE, LedgerKind.RENTAL_REFUND)] == [1, 1]
    [rental] = Rental.by_account.query(user.account_id)
    assert rental.status == "FAILED"


# ---- reactivations, multi-service numbers and bulk orders (issue 17 items 1 and 3, issue 18 bulk) -----------------


def _used_number(desk: Desk) -> tuple[Account, Activation]:
    """A user with 1000 cents whose number got its code and was finished (60 cents)."""
    user, activation = desk.waiting_number(1000)
    desk.received(user, activation)
    return user, desk.service.finish(user.account_id, int(activation.activation_id))


def _resolved_twice(desk: Desk) -> int:
    """A fresh process runs the resolve job past its delay, twice; how many orders it ended."""
    desk.clock.advance(desk.settings.pending_resolve_after_seconds + 1)
    recovery = activations_facade(desk.settings, desk.partners, desk.clock)
    return recovery.resolve_stale_pending() + recovery.resolve_stale_pending()


def test_reactivate__lambda_dying_between_debit_and_partner_is_refunded_once_by_the_job(stack_settings):
    # Given a used number, and a Lambda that dies while asking the partner for it again, after the debit
    desk = Desk(stack_settings)
    user, parent = _used_number(desk)
    desk.partner.reactivation_failure = LambdaDied()
    with pytest.raises(LambdaDied):
        desk.service.reactivate(Account.get(user.account_id, consistent_read=True), int(parent.activation_id))
    assert checked_books(user.account_id)[0] == 1000 - 60 - 60
    # When the resolve job runs twice
    ended = _resolved_twice(desk)
    # Then the reactivation ended FAILED with its money back, refunded exactly once
    balance, entries = checked_books(user.account_id)
    assert (ended, balance, len(kinds(entries, LedgerKind.ACTIVATION_REFUND))) == (1, 940, 1)


@pytest.mark.parametrize("kind", ["multi_service", "bulk"])
def test_batch__lambda_dying_between_debit_and_partners_is_refunded_once_per_number(stack_settings, monkeypatch,
                                                                                     kind):
    # Given a Lambda that dies after one transaction debited three numbers, before any partner answered
    desk = Desk(stack_settings, [FakePartner(services=("tg", "wa", "vk"))])
    user = Account.get(desk.account(1000).account_id, consistent_read=True)
    def dies(*_args: Any) -> None:
        raise LambdaDied

    with pytest.raises(LambdaDied):
        if kind == "bulk":
            monkeypatch.setattr(BatchOrdering, "_acquire_in_parallel", dies)
            desk.service.order_bulk(user, OrderRequest("tg", 0), 3)
        else:
            desk.partner.number_failure = LambdaDied()
            desk.service.order_multi_service(user, MultiServiceRequest(("tg", "wa", "vk"), 0))
    assert checked_books(user.account_id)[0] == 1000 - 3 * 60
    # When the resolve job runs twice
    ended = _resolved_twice(desk)
    # Then each of the three was refunded exactly once and the books hold
    balance, entries = checked_books(user.account_id)
    assert (ended, balance) == (3, 1000)
    assert [len(kinds(entries, k)) for k in (LedgerKind.ACTIVATION_CHARGE, LedgerKind.ACTIVATION_REFUND)] == [3, 3]


def test_bulk__racing_bulk_orders_on_one_account_never_overspend_and_are_all_or_nothing(stack_settings):
    # Given 1000 cents, enough for 16 numbers of 60 cents, and 8 bots each ordering 3 at once, twice
    desk = Desk(stack_settings)
    user = desk.account(1000)

    def order_three(_: int) -> int:
        try:
            return len(desk.service.order_bulk(Account.get(user.account_id, consistent_read=True),
                                               OrderRequest("tg", 0), 3).issued)
        except InsufficientBalance:
            return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        issued = list(pool.map(order_three, range(16)))
    # Then no more was spent than there was, every order got all three or none, each charged once
    balance, entries = checked_books(user.account_id)
    charges = kinds(entries, LedgerKind.ACTIVATION_CHARGE)
    assert sorted(set(issued)) in ([0, 3], [3])
    assert len(charges) == sum(issued) == 15
    assert balance == 1000 - 15 * 60


def test_reactivate__racing_retries_with_one_idempotency_key_charge_once(stack_settings):
    # Given a used number, and a bot that sends the same reactivation (one key) from 6 threads at once
    desk = Desk(stack_settings)
    user, parent = _used_number(desk)

    def again(_: int) -> int:
        account = Account.get(user.account_id, consistent_read=True)
        return int(desk.service.reactivate(account, int(parent.activation_id), idempotency_key="again-once")
                   .activation_id)

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(again, range(6)))
    # Then all got the same reactivation, charged once
    balance, entries = checked_books(user.account_id)
    assert len(ids) == 1
    assert (balance, len(kinds(entries, LedgerKind.ACTIVATION_CHARGE))) == (1000 - 120, 2)
