"""Operator switches stored in DynamoDB (maintenance, markup, price overrides, the agreement's schedule), cached
briefly per container.

Every request reads some of them (the maintenance gate all, an order the prices, a signed-in page the agreement), so
a container reads the switches in `READ_TOGETHER` together: one read of the table (store.runtime.cached_settings)
when the first of them is needed, and again when the cache lapses, instead of one GetItem each (issue 16: a cold
order read three)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.clock import Clock
from chalicelib.store.runtime import cached_setting, cached_settings, write_setting

MAINTENANCE = "maintenance"
MARKUP = "markup_percent"
PRICE_OVERRIDES = "price_overrides"  # {"<service>#<country>": cents}
AGREEMENT_SCHEDULE = "agreement_versions"
READ_TOGETHER = (MAINTENANCE, MARKUP, PRICE_OVERRIDES, AGREEMENT_SCHEDULE)
_CACHE_SECONDS = 2.0
_ABSENT = object()  # a setting never written: its reader's default
_cache: dict[str, tuple[float, Any]] = {}  # key → (when read, its parsed value or _ABSENT)


@dataclass(frozen=True)
class MaintenanceState:
    on: bool
    message: str


def get_value(key: str, default: Any = None, *, fresh: bool = False) -> Any:
    """The setting's value (`default` when never set), at most `_CACHE_SECONDS` old unless `fresh`."""
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and not fresh and now - hit[0] < _CACHE_SECONDS:
        value = hit[1]
    elif fresh or key not in READ_TOGETHER:
        value = _parsed(cached_setting(key))
        _cache[key] = (now, value)
    else:
        together = cached_settings(READ_TOGETHER)
        _cache.update((name, (now, _parsed(together.get(name)))) for name in READ_TOGETHER)
        value = _cache[key][1]
    return default if value is _ABSENT else value


def _parsed(stored: str | None) -> Any:
    return _ABSENT if stored is None else json.loads(stored)


def set_value(key: str, value: Any, clock: Clock) -> None:
    write_setting(key, json.dumps(value), clock.now())
    _cache.pop(key, None)


def maintenance() -> MaintenanceState:
    raw = get_value(MAINTENANCE, {"on": False, "message": ""})
    return MaintenanceState(on=bool(raw.get("on")), message=str(raw.get("message") or ""))


def clear_cache() -> None:
    _cache.clear()
