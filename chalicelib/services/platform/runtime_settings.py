"""Operator switches stored in DynamoDB (maintenance, markup, price overrides), cached briefly per container."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import Clock
from chalicelib.store.runtime import cached_setting, write_setting

MAINTENANCE = "maintenance"
_CACHE_SECONDS = 2.0
_cache: dict[str, tuple[float, Any]] = {}


@dataclass(frozen=True)
class MaintenanceState:
    on: bool
    message: str


def get_value(key: str, default: Any = None, *, fresh: bool = False) -> Any:
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and not fresh and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    stored = cached_setting(key)
    value = default if stored is None else json.loads(stored)
    _cache[key] = (now, value)
    return value


def set_value(key: str, value: Any, clock: Clock) -> None:
    write_setting(key, json.dumps(value), clock.now())
    _cache.pop(key, None)


def maintenance() -> MaintenanceState:
    raw = get_value(MAINTENANCE, {"on": False, "message": ""})
    return MaintenanceState(on=bool(raw.get("on")), message=str(raw.get("message") or ""))


def clear_cache() -> None:
    _cache.clear()
