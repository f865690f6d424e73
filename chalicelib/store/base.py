"""Table binding: models declare a short name; `bind_models` gives them the stage's real names and endpoint.

PynamoDB fixes `Meta.table_name` when a class is defined, before settings are known. Every model
here declares `Meta.short_name` instead; `bind_models(settings)` sets `table_name`, `host` and
`region` on all registered models and drops their cached connections. The app, the jobs, the admin
Lambda and the tests call it once at start; nothing else touches table names.
"""
from __future__ import annotations

import threading
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib.config import Settings

M = TypeVar("M", bound=type[Model])

_REGISTRY: list[type[Model]] = []
_binding: dict[str, Any] = {}
_connections = threading.local()


def table(short_name: str):  # type: ignore[no-untyped-def]
    """Class decorator: register a model under a short table name (the prefix is added at bind time)."""

    def register(cls: M) -> M:
        cls.Meta.short_name = short_name  # type: ignore[attr-defined]
        cls.Meta.table_name = short_name
        _REGISTRY.append(cls)
        return cls

    return register


def registered_models() -> list[type[Model]]:
    import chalicelib.store.models  # noqa: F401  (importing registers every model)

    return list(_REGISTRY)


def bind_models(settings: Settings) -> None:
    """Point every model at the stage's tables and endpoint (a no-op when they already point there)."""
    target = (settings.table_prefix, settings.dynamodb_endpoint, settings.region)
    if _binding.get("target") == target:
        return
    for cls in registered_models():
        meta = cls.Meta
        meta.table_name = settings.table_prefix + meta.short_name  # type: ignore[attr-defined]
        meta.host = settings.dynamodb_endpoint
        meta.region = settings.region
        if settings.dynamodb_endpoint:
            # DynamoDB Local and moto accept any credentials; give them some so no AWS account is needed.
            meta.aws_access_key_id = "local"
            meta.aws_secret_access_key = "local"
        meta.max_retry_attempts = 3
        meta.max_pool_connections = 50
        meta.connect_timeout_seconds = 5
        meta.read_timeout_seconds = 10
        cls._connection = None
    _binding.update(host=settings.dynamodb_endpoint, region=settings.region, local=bool(settings.dynamodb_endpoint),
                    generation=int(_binding.get("generation", 0)) + 1, target=target)


def connection() -> Connection:
    """A low-level connection for transactions, on the same endpoint as the models, reused per thread.

    Building a botocore client costs tens of milliseconds (hundreds under load); every money movement
    needs one, so each thread keeps its own until the models are bound again.
    """
    cached: Connection | None = getattr(_connections, "conn", None)
    if cached is not None and getattr(_connections, "generation", None) == _binding.get("generation"):
        return cached
    local = bool(_binding.get("local"))
    conn = Connection(host=_binding.get("host"), region=_binding.get("region"), max_pool_connections=50,
                      aws_access_key_id="local" if local else None, aws_secret_access_key="local" if local else None)
    _connections.conn = conn
    _connections.generation = _binding.get("generation")
    return conn


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
