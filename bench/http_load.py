"""Orders over HTTP against the local app (Chalice's threaded dev server): throughput and latency with 1, 10 and 50
concurrent clients on their own accounts, and many clients racing to overspend one account.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from bench.activations import COUNTRY, SERVICE, activations_service, fresh_simulator
from bench.arrange import api_key_for, funded_account, ledger_sum_cents
from bench.context import BenchContext
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.stats import ms, percentile
from chalicelib.store.accounts import Account

CONCURRENCY = (1, 10, 50)
ORDERS_PER_CLIENT = {1: 10, 10: 3, 50: 2}
RACE_CLIENTS, RACE_ATTEMPTS_EACH, RACE_AFFORDABLE = 20, 2, 10
STAGGER_SECONDS = 0.01  # clients start this far apart, as real ones do, rather than in one connect storm
CONNECTION_FAILED = 0  # the "status" of a request that got no HTTP reply


@dataclass
class Outcomes:
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, seconds: float) -> None:
        """A reply's status and time; failed connections count as status 0 and stay out of the latencies."""
        with self.lock:
            self.statuses[status] += 1
            if status != CONNECTION_FAILED:
                self.seconds.append(seconds)


def _client(base_url: str, api_key: str, orders: int, outcomes: Outcomes, delay: float) -> None:
    time.sleep(delay)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {api_key}"
    for _ in range(orders):
        started = time.perf_counter()
        try:
            reply = http.post(f"{base_url}/v1/activations", json={"service": SERVICE, "country": COUNTRY},
                              timeout=120)
        except requests.ConnectionError:
            outcomes.record(CONNECTION_FAILED, time.perf_counter() - started)
            continue
        outcomes.record(reply.status_code, time.perf_counter() - started)


def _run_clients(base_url: str, keys: list[str], orders_each: int) -> tuple[Outcomes, float]:
    outcomes = Outcomes()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        futures = [pool.submit(_client, base_url, key, orders_each, outcomes, i * STAGGER_SECONDS)
                   for i, key in enumerate(keys)]
        for future in futures:
            future.result()
    return outcomes, time.perf_counter() - started


def _statuses(outcomes: Outcomes) -> str:
    return ", ".join(f"{status or 'no reply'}×{count}" for status, count in sorted(outcomes.statuses.items()))


def _latency(outcomes: Outcomes, pct: float) -> str:
    return ms(percentile(outcomes.seconds, pct)) if outcomes.seconds else "-"


@benchmark("orders-http", order=50, needs=Needs.APP)
def orders_http(ctx: BenchContext) -> Table:
    fresh_simulator(ctx)
    activations_service(ctx.settings).refresh_prices()
    clients = max(CONCURRENCY)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: api_key_for(ctx.settings, funded_account(ctx.settings, 1_000_000).account_id),
                             range(clients)))
    table = Table("Orders over HTTP (POST /v1/activations, one account and API key per client)",
                  ["clients", "orders", "replies", "orders/s", "p50 ms", "p99 ms"])
    for count in CONCURRENCY:
        outcomes, wall = _run_clients(ctx.stack.app_url, keys[:count], ORDERS_PER_CLIENT[count])
        accepted = outcomes.statuses[201]
        table.add(count, sum(outcomes.statuses.values()), _statuses(outcomes), f"{accepted / wall:.1f}",
                  _latency(outcomes, 50), _latency(outcomes, 99))
    table.notes.append("one app process (Chalice's dev server, threaded) on this machine with DynamoDB Local, "
                       "localstripe and the simulator; Lambda would scale out instead")
    return table


@benchmark("orders-race", order=55, needs=Needs.APP)
def orders_race(ctx: BenchContext) -> Table:
    """Many clients, one account that can afford RACE_AFFORDABLE orders: what got through, and the books after."""
    fresh_simulator(ctx)
    svc = activations_service(ctx.settings)
    svc.refresh_prices()
    price = svc.catalog.quote(SERVICE, COUNTRY, None)[0].price_cents
    account = funded_account(ctx.settings, price * RACE_AFFORDABLE)
    keys = [api_key_for(ctx.settings, account.account_id)] * RACE_CLIENTS
    outcomes, _ = _run_clients(ctx.stack.app_url, keys, RACE_ATTEMPTS_EACH)
    after = Account.get(account.account_id, consistent_read=True)
    table = Table(f"Racing orders on one account over HTTP ({RACE_CLIENTS} clients, {RACE_ATTEMPTS_EACH} each)",
                  ["attempts", "replies", "affordable", "accepted", "balance after", "ledger sum", "p50 ms",
                   "p99 ms"], goal="accepted ≤ affordable, balance ≥ 0 and equal to the ledger sum")
    table.add(sum(outcomes.statuses.values()), _statuses(outcomes), RACE_AFFORDABLE, outcomes.statuses[201],
              after.balance_cents, ledger_sum_cents(account.account_id), _latency(outcomes, 50),
              _latency(outcomes, 99))
    return table
