"""Table binding: models declare a short name; `bind_models` gives them the stage's real names and endpoint.

PynamoDB fixes `Meta.table_name` when a class is defined, before settings are known. Every model
here declares `Meta.short_name` instead; `bind_models(settings)` (store.binding, which imports no model) sets
`table_name`, `host` and `region` on all registered models, and on each model registered after it, and drops
their cached connections. The app, the jobs, the admin Lambda and the tests call it once at start; nothing else
touches table names.

One DynamoDB connection per process: PynamoDB builds a `Connection` (and so a botocore client, tens
of milliseconds and megabytes each) per model class, and a transaction needs one more. Every model's
table connection and every transaction here share one `SharedConnection` per endpoint instead, whose
botocore client (thread-safe) is built once, under a lock, on first use: at the end of a container's start when
credentials are at hand (chalicelib/startup.py), else by the first call.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pynamodb.connection import Connection, TableConnection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.store import binding
from chalicelib.store.binding import bind_models

__all__ = ["JoinedWrite", "SharedConnection", "WriteRefused", "bind_models", "connection", "create_tables",
           "registered_models", "table"]

M = TypeVar("M", bound=type[Model])

# A write a repository hands a service to join another's transaction (the activation an order creates joins the
# money's): the service passes it on unopened; the store that opens the transaction calls it with it.
JoinedWrite = Callable[[TransactWrite], None]


class WriteRefused(Exception):
    """A repository's conditional write or transaction was refused (a condition failed, or a conflict)."""


_shared: dict[tuple[str | None, str], SharedConnection] = {}
_build_lock = threading.RLock()
MAX_POOL_CONNECTIONS = 100  # every thread of a process shares the client's pool


class SharedConnection(Connection):
    """A PynamoDB connection whose one botocore client serves every thread, built once.

    PynamoDB's own `client` property may build several when threads race on first use (its session is
    per thread); here the build happens under a lock, and again only if the credentials went missing
    (PynamoDB's guard against a client poisoned by empty credentials).
    """

    @property
    def client(self) -> Any:
        built = self._client
        if built is not None and (built._request_signer is None or built._request_signer._credentials):
            return built
        with _build_lock:
            return Connection.client.fget(self)  # type: ignore[attr-defined]


def table(short_name: str):  # type: ignore[no-untyped-def]
    """Class decorator: register a model under a short table name (the prefix is added at bind time)."""

    def register(cls: M) -> M:
        cls.Meta.short_name = short_name  # type: ignore[attr-defined]
        cls.Meta.table_name = short_name
        cls._get_connection = classmethod(_table_connection)  # type: ignore[assignment]
        binding.register(cls)
        return cls

    return register


def _table_connection(cls: type[Model]) -> TableConnection:
    """PynamoDB's per-model table connection, pointed at the process's shared connection."""
    ready = _ready_table_connection(cls)
    if ready is not None:
        return ready
    with _build_lock:  # PynamoDB publishes its own connection before it is swapped: no thread may use it
        ready = _ready_table_connection(cls)
        if ready is not None:
            return ready
        built: TableConnection = Model._get_connection.__func__(cls)  # type: ignore[attr-defined]
        shared = connection()
        shared._tables.setdefault(cls.Meta.table_name, built.connection.get_meta_table(cls.Meta.table_name))
        built.connection = shared
        return built


def _ready_table_connection(cls: type[Model]) -> TableConnection | None:
    cached = cls._connection
    if cached is None or cached.table_name != cls.Meta.table_name:
        return None
    return cached if isinstance(cached.connection, SharedConnection) else None


def registered_models() -> list[type[Model]]:
    import chalicelib.store.models  # noqa: F401  (importing registers every model)

    return binding.registered()


def connection() -> Connection:
    """The process's DynamoDB connection for the bound endpoint: the models use it, and so do transactions."""
    key = binding.bound_endpoint()
    shared = _shared.get(key)
    if shared is None:
        with _build_lock:
            shared = _shared.get(key) or _shared.setdefault(key, _new_connection(*key))
    return shared


def client_built() -> bool:
    """Whether this process has built its DynamoDB client (chalicelib/startup.py builds it as a container starts)."""
    return any(shared._client is not None for shared in _shared.values())


def _new_connection(host: str | None, region: str) -> SharedConnection:
    # DynamoDB Local and moto accept any credentials; give them some so no AWS account is needed.
    local = "local" if host else None
    return SharedConnection(host=host, region=region, max_retry_attempts=3, max_pool_connections=MAX_POOL_CONNECTIONS,
                            connect_timeout_seconds=5, read_timeout_seconds=10, aws_access_key_id=local,
                            aws_secret_access_key=local)


def create_tables(wait: bool = True) -> list[str]:
    """Create every registered table that does not exist yet (idempotent; TTL is switched on by PynamoDB)."""
    created = []
    for cls in registered_models():
        if not cls.exists():
            cls.create_table(wait=wait, billing_mode="PAY_PER_REQUEST")
            created.append(cls.Meta.table_name)
        else:
            add_missing_indexes(cls)
    return created


def add_missing_indexes(cls: type[Model]) -> list[str]:
    """Create the global indexes a model declares that its table lacks: a local stack's data kept from before an
    index was added would otherwise fail every query of it (deployed, CloudFormation adds it from the template)."""
    conn = cls._get_connection().connection
    table_name = cls.Meta.table_name
    have = {i["IndexName"] for i in conn.describe_table(table_name).get("GlobalSecondaryIndexes", [])}
    schema = cls._get_schema()
    added = []
    for index in schema["global_secondary_indexes"]:
        if index["index_name"] in have:
            continue
        keys = {k["AttributeName"] for k in index["key_schema"]}
        conn.dispatch("UpdateTable", {
            "TableName": table_name,
            "AttributeDefinitions": [d for d in schema["attribute_definitions"] if d["AttributeName"] in keys],
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": index["index_name"],
                "KeySchema": sorted(index["key_schema"], key=lambda k: k["KeyType"] != "HASH"),
                "Projection": dict(index["projection"])}}]})
        added.append(index["index_name"])
    return added


def joined(writes: Iterable[JoinedWrite | None]) -> JoinedWrite:
    """Several writes as one, in order, for a transaction another store opens (the wallet's); None is nothing to write,
    as `transaction.commit` takes it."""
    items = [write for write in writes if write is not None]

    def join(tx: TransactWrite) -> None:
        for write in items:
            write(tx)

    return join
