"""Reference lists of services and countries, keyed by the SMS-Activate codes and ids clients already use.

The data lives in chalicelib/data/{services,countries}.json and is read once per process.
Country ids are SMS-Activate's (0 Russia, 187 USA…); `phone_code` is the ITU country calling code,
so countries of the North American plan all read "1". Prices and stock are not here: they come
from partners.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class ServiceInfo:
    code: str  # SMS-Activate service code: tg, wa, go…
    name: str


@dataclass(frozen=True)
class CountryInfo:
    id: int  # SMS-Activate country id
    name_en: str
    name_ru: str
    name_zh: str
    iso2: str
    phone_code: str  # digits, no +


def services() -> list[ServiceInfo]:
    return list(_services_by_code().values())


def countries() -> list[CountryInfo]:
    return list(_countries_by_id().values())


def service_by_code(code: str) -> ServiceInfo | None:
    return _services_by_code().get(code)


def country_by_id(country_id: int) -> CountryInfo | None:
    return _countries_by_id().get(country_id)


@functools.cache
def _services_by_code() -> dict[str, ServiceInfo]:
    items = [ServiceInfo(code=str(row["code"]), name=str(row["name"])) for row in _load("services.json")]
    return _unique(items, key=lambda s: s.code, what="service code")


@functools.cache
def _countries_by_id() -> dict[int, CountryInfo]:
    items = [
        CountryInfo(id=int(row["id"]), name_en=str(row["name_en"]), name_ru=str(row["name_ru"]),
                    name_zh=str(row["name_zh"]), iso2=str(row["iso2"]), phone_code=str(row["phone_code"]))
        for row in _load("countries.json")
    ]
    return _unique(items, key=lambda c: c.id, what="country id")


def _load(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((_DATA_DIR / name).read_text(encoding="utf-8"))
    return rows


def _unique(items: list[V], *, key: Callable[[V], K], what: str) -> dict[K, V]:
    by_key: dict[K, V] = {}
    for item in items:
        k = key(item)
        if k in by_key:
            # A duplicate would silently shadow a row; fail at load so a bad data edit cannot ship.
            raise ValueError(f"duplicate {what} {k!r} in catalog data")
        by_key[k] = item
    return by_key
