"""Routing by success rate and marked numbers, in this process against DynamoDB Local and the partner simulator:
what a routing decision reads (cold and warm container), and what numbers reported bad cost when a partner hands
them out again (with and without honouring phoneException).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from bench.activations import activations_service, fresh_simulator
from bench.arrange import funded_account
from bench.context import BenchContext
from bench.dynamo import CallLog, describe, measure
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.simulator import SimulatorControl, describe_calls
from chalicelib.services.activations import delivery_memory
from chalicelib.services.activations.facade import Activations
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation

DECISIONS = 8
ORDERS = 60
BAN_EVERY = 3  # one order in three is reported bad: its number is marked for the service
REUSE_RATE = 0.5  # half the partner's answers are numbers it issued before
SERVICE = "wa"
NO_FLOOR = Decimal(0)  # no SMS is delivered here: the pair must not stop being sold while it is measured
COUNTRIES = (1, 2, 6, 12, 16, 22, 187, 0)  # a different pair for each cold decision (every country the simulator sells)


@benchmark("routing", order=35, needs=Needs.DYNAMODB)
def routing(ctx: BenchContext) -> Table:
    sim = fresh_simulator(ctx)
    table = Table("Calls per routing decision and per marked number (in-process)",
                  ["case", "DynamoDB calls/order", "calls by API", "partner calls/order", "orders offered a marked "
                   "number", "extra partner calls per such order"],
                  goal="routing reads nothing in a warm container; a marked number costs its partner calls only")
    _decisions(ctx, sim, table)
    for honoured in (True, False):
        _marked(ctx, sim, table, honoured)
    table.notes.append("an order's own calls (debit transaction, number issued) are in every row; a cold "
                       "container's first order of a service and country adds the queries of its offers, success "
                       f"counters and marked numbers (kept {delivery_memory.RATES_CACHE_SECONDS:g}–"
                       f"{delivery_memory.MARKS_CACHE_SECONDS:g} s)")
    table.notes.append(f"marked rows: {ORDERS} orders, one in {BAN_EVERY} reported bad, the partner handing out a "
                       f"number it issued before {REUSE_RATE:.0%} of the time")
    return table


def _decisions(ctx: BenchContext, sim: SimulatorControl, table: Table) -> None:
    for label, countries in (("routing decision, cold container (first order of a pair)", COUNTRIES),
                             ("routing decision, warm container", (COUNTRIES[0],) * DECISIONS)):
        svc = activations_service(ctx.settings, cancel_grace_seconds=0, routing_rate_floor=NO_FLOOR)
        svc.refresh_prices()
        account = funded_account(ctx.settings, 1_000_000)
        if label.endswith("warm container"):
            svc.order(_authenticated(account), OrderRequest(SERVICE, COUNTRIES[0]))  # fills this container's caches
        before = sim.calls()
        log, _ = _orders(svc, account, countries)
        calls, breakdown, _capacity = describe(log, len(countries))
        table.add(label, calls, breakdown, describe_calls(before, sim.calls(), len(countries)), "", "")


def _marked(ctx: BenchContext, sim: SimulatorControl, table: Table, honoured: bool) -> None:
    sim.reset()
    sim.configure(sms_delay_seconds=86_400, stock=5_000, reuse_rate=REUSE_RATE, honour_phone_exception=honoured)
    svc = activations_service(ctx.settings, cancel_grace_seconds=0, routing_rate_floor=NO_FLOOR)
    svc.refresh_prices()
    account = funded_account(ctx.settings, 1_000_000)
    hits, extra = 0, 0
    total: Counter[str] = Counter()
    dynamodb: Counter[str] = Counter()
    for index in range(ORDERS):
        before = sim.calls()
        log, ordered = _orders(svc, account, (0,))
        delta = sim.calls() - before
        dynamodb += log.by_operation()
        if delta["getNumber"] > 1:
            hits += 1
            extra += delta["getNumber"] - 1 + delta["setStatus"]  # each marked answer: cancelled, asked again
        total += delta
        if index % BAN_EVERY == 0 and ordered[0].status == "WAITING":
            svc.ban(account.account_id, int(ordered[0].activation_id))
    per_order = sum(total.values()) / ORDERS
    label = "orders, partner honours phoneException" if honoured else "orders, partner ignores phoneException"
    share = f"{hits}/{ORDERS} ({hits / ORDERS:.0%})"
    breakdown = ", ".join(f"{api} {count / ORDERS:g}" for api, count in sorted(dynamodb.items()))
    table.add(label, f"{sum(dynamodb.values()) / ORDERS:g}", breakdown, f"{per_order:.2f}", share,
              f"{extra / hits:.1f}" if hits else "0")


def _orders(svc: Activations, account: Account, countries: Sequence[int]) -> tuple[CallLog, list[Activation]]:
    """One order per country (each from the account as authentication reads it), its DynamoDB calls logged."""
    ordered: list[Activation] = []
    log, _ = measure(len(countries), lambda i: ordered.append(
        svc.order(_authenticated(account), OrderRequest(SERVICE, countries[i]))))
    return log, ordered


def _authenticated(account: Account) -> Account:
    return Account.get(account.account_id, consistent_read=True)
