"""Capacity model: the DynamoDB partition keys an order's lifecycle writes, measured, and the orders/s at which the
hottest would reach the 1,000 write units a second one partition takes.

Two lifecycles (order, status check asking the partner, SMS by poll, finish) on two accounts run in this process
while a botocore hook records every write; each written item is read before and after (on a separate client, so
nothing is counted twice) to see which index keys it carries. A write costs ceil(size / 1 KB) units on its table's
partition (twice in a transaction) and one on each index partition whose projection it changes. A key both
lifecycles wrote with the same value is shared: by the whole platform, or (when it names the partner) by every
order of that partner. Keys that name the account cap one account's orders.
"""
from __future__ import annotations

import json
import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pynamodb.indexes import AllProjection

from bench.activations import COUNTRY, SERVICE, activations_service, fresh_simulator
from bench.arrange import funded_account
from bench.context import BenchContext
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.simulator import SimulatorControl
from chalicelib.domain.ids import new_secret
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.store.accounts import Account
from chalicelib.store.base import connection, registered_models

PARTITION_WCU_PER_SECOND = 1000
# Index keys that carry a WRITE_SHARDS suffix (store.activations.active_key, services.platform.outbox.due_key).
WEBHOOK_URL = "http://127.0.0.1:9/bench-webhook"
SHARDED = ("activations/active", "webhook_deliveries/due", "partner_calls/due")
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_KB = 1024


@dataclass(frozen=True)
class Shape:
    """A table's keys: its short name, its key attributes and, per index, the index's partition key attribute and
    whether it projects every attribute (then any change of an item in it writes to it)."""

    short_name: str
    key_attributes: tuple[str, ...]
    indexes: dict[str, tuple[str, bool]]


def _shapes() -> dict[str, Shape]:
    shapes = {}
    for model in registered_models():
        indexes = {name: (index._hash_key_attribute().attr_name, isinstance(index.Meta.projection, AllProjection))
                   for name, index in model._indexes.items()}
        keys = tuple(k for k in (model._hash_keyname, model._range_keyname) if k)
        shapes[model.Meta.table_name] = Shape(model.Meta.short_name, keys, indexes)  # type: ignore[attr-defined]
    return shapes


@dataclass
class WriteLog:
    """Write units per (table or table/index, partition key value)."""

    units: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, target: str, key: str, units: float) -> None:
        with self.lock:
            self.units[(target, key)] += units


Written = tuple[str, dict[str, Any], int]  # table, key, copies (a transaction's items cost twice)


class Recorder:
    """Hooks on the shared client: every write's items read before and after it, their units logged."""

    def __init__(self) -> None:
        self.shapes = _shapes()
        shared = connection()
        self.reader = shared.session.create_client("dynamodb", region_name=shared.region, endpoint_url=shared.host)
        self.log = WriteLog()
        self._pending: dict[int, list[tuple[Written, dict[str, Any] | None]]] = {}

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._pending[threading.get_ident()] = [(w, self._item(w)) for w in self._writes(model.name, params)]

    def after(self, **_: Any) -> None:
        for written, was in self._pending.pop(threading.get_ident(), []):
            self._account(written, was, self._item(written))

    def _writes(self, operation: str, params: dict[str, Any]) -> list[Written]:
        if operation in _WRITES:
            return [self._written(params, 1)]
        if operation == "TransactWriteItems":
            return [self._written(op, 2) for entry in params["TransactItems"] for kind, op in entry.items()
                    if kind != "ConditionCheck"]
        return []

    def _written(self, op: dict[str, Any], copies: int) -> Written:
        shape = self.shapes[op["TableName"]]
        key = op.get("Key") or {name: op["Item"][name] for name in shape.key_attributes}
        return op["TableName"], key, copies

    def _item(self, written: Written) -> dict[str, Any] | None:
        table, key, _ = written
        return self.reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def _account(self, written: Written, was: dict[str, Any] | None, now: dict[str, Any] | None) -> None:
        table, _, copies = written
        shape, item = self.shapes[table], now or was
        if item is None:
            return
        size_units = max(1, math.ceil(len(json.dumps(item)) / _KB))
        self.log.add(shape.short_name, _value(item[shape.key_attributes[0]]), copies * size_units)
        for index, (attribute, projects_all) in shape.indexes.items():
            old = _value(was[attribute]) if was and attribute in was else None
            new = _value(now[attribute]) if now and attribute in now else None
            if old == new and not projects_all:
                continue
            for key in {old, new} - {None}:
                self.log.add(f"{shape.short_name}/{index}", str(key), 1.0)


def _value(attribute: dict[str, Any]) -> str:
    return str(next(iter(attribute.values())))


@contextmanager
def recording() -> Iterator[WriteLog]:
    recorder = Recorder()
    events = connection().client.meta.events
    events.register("before-parameter-build.dynamodb", recorder.before, unique_id="bench-capacity-before")
    events.register("after-call.dynamodb", recorder.after, unique_id="bench-capacity-after")
    try:
        yield recorder.log
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="bench-capacity-before")
        events.unregister("after-call.dynamodb", unique_id="bench-capacity-after")


def _lifecycle(ctx: BenchContext, sim: SimulatorControl, account: Account) -> None:
    svc = activations_service(ctx.settings, status_refresh_min_seconds=0)
    activation = svc.order(Account.get(account.account_id, consistent_read=True), OrderRequest(SERVICE, COUNTRY))
    svc.get(account.account_id, int(activation.activation_id))
    sim.deliver(str(activation.phone), "Telegram code: 12345")
    svc.poll_partners()
    svc.finish(account.account_id, int(activation.activation_id))


@benchmark("capacity", order=45, needs=Needs.DYNAMODB)
def capacity(ctx: BenchContext) -> Table:
    sim = fresh_simulator(ctx)
    activations_service(ctx.settings).refresh_prices()
    partner = ctx.settings.partners[0].name
    accounts = [funded_account(ctx.settings, 100_000) for _ in range(2)]
    for account in accounts:  # each SMS then queues a webhook event too (never delivered here: no job runs)
        account.update(actions=[Account.webhook_url.set(WEBHOOK_URL), Account.webhook_secret.set(new_secret())])
    _lifecycle(ctx, sim, accounts[0])  # the container's caches warm, as every order but a container's first finds them
    logs = []
    for account in accounts:
        with recording() as log:
            _lifecycle(ctx, sim, account)
        logs.append((account.account_id, log))
    table = Table("Capacity model: write units per order on each partition key (measured, one lifecycle)",
                  ["table / index", "partition key", "shared by", "units per order", "orders/s at 1,000 units/s"],
                  goal="≥ 10,000 orders/s platform-wide and ≥ 2,000 per partner before any partition saturates")
    caps: dict[str, float] = {}
    (first_id, first_log), (_, second_log) = logs
    shards = ctx.settings.write_shards
    first, second = _partitions(first_log, shards), _partitions(second_log, shards)
    for (target, key), units in sorted(first.items(), key=lambda kv: -kv[1]):
        scope = _scope(key, (target, key) in second, first_id, partner)
        if scope is None:
            continue
        per_second = PARTITION_WCU_PER_SECOND / units
        caps[scope] = min(caps.get(scope, math.inf), per_second)
        table.add(target, key.replace(first_id, "<account>"), scope, f"{units:g}", f"{per_second:,.0f}")
    for scope in ("platform", "partner", "account"):
        if scope in caps:
            table.notes.append(f"hottest {scope} key saturates at {caps[scope]:,.0f} orders/s")
    table.notes.append("the accounts have a webhook: each SMS queues an event (the delivery job's lease and settle, "
                       "not run here, add two more units on the same due shard)")
    table.notes.append(f"a key with a shard suffix (WRITE_SHARDS={shards}) takes 1/{shards} of its family's units")
    table.notes.append("keys written by one order only (the activation, its claims and ledger entry) are left out: "
                       "they spread over partitions as orders do")
    return table


def _partitions(log: WriteLog, shards: int) -> dict[tuple[str, str], float]:
    """Units per order on one partition of each key: a sharded key's units spread evenly over its shards."""
    spread: dict[tuple[str, str], float] = defaultdict(float)
    for (target, key), units in log.units.items():
        if target in SHARDED and re.fullmatch(r".+#\d+", key):
            spread[(target, key.rsplit("#", 1)[0] + "#<shard>")] += units / shards
        else:
            spread[(target, key)] += units
    return spread


def _scope(key: str, in_both: bool, account_id: str, partner: str) -> str | None:
    if account_id in key:
        return "account"
    if not in_both:
        return None
    return "partner" if partner in key else "platform"
