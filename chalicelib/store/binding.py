"""Which tables and endpoint the models point at, without importing a model or PynamoDB.

`bind_models(settings)` records the stage's table prefix, endpoint and region and points every model registered so
far at them; a model whose module is imported later is pointed at them as it registers (`store.base.table`). So
app.py binds at import and a cold container loads a model class only when a request first needs it (the DynamoDB
client itself is built as the container starts: chalicelib/startup.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynamodb.models import Model

    from chalicelib.config import Settings

_REGISTRY: list[type[Model]] = []
_binding: dict[str, Any] = {}


def bind_models(settings: Settings) -> None:
    """Point every model, registered now or later, at the stage's tables and endpoint (a no-op when they already
    point there)."""
    target = (settings.table_prefix, settings.dynamodb_endpoint, settings.region)
    if _binding.get("target") == target:
        return
    _binding.update(prefix=settings.table_prefix, host=settings.dynamodb_endpoint, region=settings.region,
                    target=target)
    for cls in _REGISTRY:
        _point(cls)


def register(cls: type[Model]) -> None:
    """A model class just defined: remembered, and pointed at the bound tables if they are known already."""
    _REGISTRY.append(cls)
    if "target" in _binding:
        _point(cls)


def registered() -> list[type[Model]]:
    return list(_REGISTRY)


def bound_endpoint() -> tuple[str | None, str]:
    """(host, region) of the bound stage; (None, "None") before anything was bound."""
    return _binding.get("host"), str(_binding.get("region"))


def _point(cls: type[Model]) -> None:
    meta = cls.Meta
    meta.table_name = _binding["prefix"] + meta.short_name  # type: ignore[attr-defined]
    meta.host = _binding["host"]
    meta.region = _binding["region"]
    cls._connection = None
