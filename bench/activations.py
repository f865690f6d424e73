"""Activations in this process against DynamoDB Local and the partner simulator: DynamoDB and partner calls per step
of the lifecycle, and partner calls per poll cycle as the number of active activations grows.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.arrange import funded_account
from bench.context import BenchContext
from bench.dynamo import describe, measure
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.simulator import SimulatorControl, describe_calls
from bench.stats import ms, percentile
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.base import Partner, PartnerNumber
from chalicelib.providers.registry import build_partners
from chalicelib.services.activations.batch_ordering import MultiServiceRequest
from chalicelib.services.activations.facade import Activations
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.services.money.wallet import Wallet
from chalicelib.store import activations as activation_store
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.money import DynamoMoneyStore

RUNS = 10
SERVICE, COUNTRY = "tg", 0
POLL_SIZES = (1, 100, 1000)
MULTI = ("tg", "wa", "vk")  # one number for these services
BULK = 5  # numbers in one bulk order
BULK_ID_BASE = 1_000_000_000  # ids for arranged activations, far below the time-ordered ids orders get
COLUMNS = ["operation", "DynamoDB calls/op", "calls by API", "capacity units/op", "partner calls/op", "p50 ms/op"]

# No SMS unless the bench delivers one, and stock for the biggest poll cycle.
SIM_SETUP = {"sms_delay_seconds": 86_400, "stock": 5_000}


def activations_service(settings: Settings, **overrides: Any) -> Activations:
    """The facade the routes and jobs use, over this stack's partners, with some settings changed."""
    changed = dataclasses.replace(settings, **overrides)
    clock = SystemClock()
    return wiring.build_activations(changed, build_partners(changed, clock), clock, Wallet(clock, DynamoMoneyStore()))


def fresh_simulator(ctx: BenchContext) -> SimulatorControl:
    sim = SimulatorControl(ctx.stack.simulator_url)
    sim.reset()
    sim.configure(**SIM_SETUP)
    return sim


class Stepper:
    """Measures one lifecycle step over many activations: DynamoDB calls, partner calls, wall time."""

    def __init__(self, sim: SimulatorControl, table: Table) -> None:
        self.sim = sim
        self.table = table
        self.calls_per_unit: dict[str, float] = {}

    def step(self, label: str, items: list[Any], operation: Callable[[Any], Any], units: int | None = None
             ) -> list[Any]:
        """Run operation on each item; figures are per item, or per unit when one call handles `units` things."""
        per = units or len(items)
        results: list[Any] = []
        before = self.sim.calls()
        log, seconds = measure(len(items), lambda i: results.append(operation(items[i])))
        partner = describe_calls(before, self.sim.calls(), per)
        calls, breakdown, capacity = describe(log, per)
        latency = percentile([s * len(items) / per for s in seconds], 50)
        self.table.add(label, calls, breakdown, capacity, partner, ms(latency))
        self.calls_per_unit[label] = len(log.calls) / per
        return results


@benchmark("activation-calls", order=30, needs=Needs.DYNAMODB)
def activation_calls(ctx: BenchContext) -> Table:
    sim = fresh_simulator(ctx)
    svc = activations_service(ctx.settings, cancel_grace_seconds=0)
    stored = activations_service(ctx.settings, status_refresh_min_seconds=3600)
    asking = activations_service(ctx.settings, status_refresh_min_seconds=0)
    svc.refresh_prices()
    account = funded_account(ctx.settings, 10_000_000)
    table = Table(f"DynamoDB and partner calls per activation step ({RUNS} activations, in-process)", COLUMNS,
                  goal="one DynamoDB transaction to debit and create an order")
    steps = Stepper(sim, table)
    request = OrderRequest(SERVICE, COUNTRY)
    order, check, poll, finish = ("order (debit, create, number from partner)",
                                  "status check asking the partner (no SMS yet)",
                                  f"poll cycle picking up {RUNS} SMS (per SMS)", "finish")
    # Each order starts from the account as its request's authentication reads it (counted with the order).
    ordered = steps.step(order, [account] * RUNS, lambda acc: svc.order(_authenticated(acc), request))
    steps.step("status check within the refresh interval (stored view)", ordered,
               lambda a: stored.get(account.account_id, int(a.activation_id)))
    steps.step(check, ordered, lambda a: asking.get(account.account_id, int(a.activation_id)))
    for a in ordered:
        sim.deliver(a.phone, f"Telegram code: {int(a.activation_id) % 90000 + 10000}")
    steps.step(poll, [None], lambda _: svc.poll_partners(), units=RUNS)
    steps.step(finish, ordered, lambda a: svc.finish(account.account_id, int(a.activation_id)))
    steps.step("reactivation of a finished number (quote, debit, the number again)", ordered,
               lambda a: svc.reactivate(_authenticated(account), int(a.activation_id)))
    steps.step(f"multi-service number for {len(MULTI)} services (per service)", [MULTI] * (RUNS // 2),
               lambda services: svc.order_multi_service(_authenticated(account), MultiServiceRequest(services,
                                                                                                     COUNTRY)),
               units=len(MULTI) * (RUNS // 2))
    steps.step(f"bulk order of {BULK} numbers (per number)", [BULK] * (RUNS // 2),
               lambda count: svc.order_bulk(_authenticated(account), request, count), units=BULK * (RUNS // 2))
    canceled = [svc.order(_authenticated(account), request) for _ in range(RUNS)]
    steps.step("cancel before any SMS (refund)", canceled,
               lambda a: svc.cancel(account.account_id, int(a.activation_id)))
    lifecycle = sum(steps.calls_per_unit[s] for s in (order, check, poll, finish))
    table.add("full lifecycle: order → check → SMS by poll → finish", f"{lifecycle:g}", "sum of those rows",
              "", "", "")
    table.notes.append("partner calls are the simulator's protocol calls (its /_sim/state counters)")
    table.notes.append(f"the poll row carries the cycle's {ctx.settings.write_shards + 1} queries (one per shard of "
                       f"the partner's active key, WRITE_SHARDS={ctx.settings.write_shards}, and one for keys from "
                       f"before sharding) split over its {RUNS} SMS: a cost per cycle, not per SMS")
    return table


def _authenticated(account: Account) -> Account:
    return Account.get(account.account_id, consistent_read=True)


def arrange_waiting(partner: Partner, account_id: str, first_id: int, count: int, lifetime_seconds: int,
                    shards: int) -> None:
    """`count` WAITING activations as ordering leaves them: numbers really issued by the partner, rows written
    in batches (ordering 1,000 numbers one by one takes minutes on DynamoDB Local)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers: list[PartnerNumber] = list(pool.map(
            lambda _: partner.get_number(SERVICE, COUNTRY, None, None), range(count)))
    now = time.time()
    with Activation.batch_write() as batch:
        for offset, number in enumerate(numbers):
            batch.save(Activation(
                first_id + offset, account_id=account_id, service=SERVICE, country=COUNTRY, operator="any",
                status=ActivationStatus.WAITING.value, price_cents=100, cost_cents=number.cost_minor,
                phone=number.phone, partner=partner.name, partner_activation_id=number.partner_activation_id,
                partner_ref=activation_store.partner_ref(partner.name, number.partner_activation_id),
                active_key=activation_store.active_key(partner.name, first_id + offset, shards),
                sms=[], has_sms=False, created_at=now, expires_at=now + lifetime_seconds, last_checked_at=now,
                version=1))


@benchmark("poll-cycle", order=40, needs=Needs.DYNAMODB)
def poll_cycle(ctx: BenchContext) -> Table:
    sim = fresh_simulator(ctx)
    svc = activations_service(ctx.settings)
    partner = svc.partners[0]
    account = funded_account(ctx.settings, 0)
    table = Table("Partner calls per poll cycle as active activations grow (no new SMS; in-process)",
                  ["active activations", "partner calls/cycle", "DynamoDB calls/cycle", "calls by API", "cycle ms"],
                  goal="partner calls per cycle constant")
    active = 0
    for size in POLL_SIZES:
        arrange_waiting(partner, account.account_id, BULK_ID_BASE + active, size - active,
                        ctx.settings.activation_lifetime_seconds, ctx.settings.write_shards)
        active = size
        before = sim.calls()
        log, seconds = measure(1, lambda _: svc.poll_partners())
        calls, breakdown, _ = describe(log, 1)
        table.add(size, describe_calls(before, sim.calls(), 1), calls, breakdown, ms(seconds[0]))
    table.notes.append("the activations are arranged in bulk: numbers issued by the simulator, rows written as "
                       "ordering writes them")
    return table
