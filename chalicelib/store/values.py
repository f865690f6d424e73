"""Rows to values and back, for the repositories: a frozen dataclass whose fields carry a model's attribute names
takes the row's attributes typed by its annotations (int, float, bool, str, an enum, tuple, frozenset, a nested
dataclass or a tuple of them from a map or list of maps, each maybe None; a TTL attribute is epoch seconds), and
gives a row of them back (None: left out, so the model's default holds). An attribute an older row lacks takes the
field's default, or the repository's own word for it (`absent`).
"""
from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pynamodb.attributes import Attribute, TTLAttribute
from pynamodb.models import Model

V = TypeVar("V")
M = TypeVar("M", bound=Model)
Convert = Callable[[Any], Any]


def value_of(cls: type[V], row: Any, absent: Mapping[str, Any] = types.MappingProxyType({})) -> V:
    """The `cls` value of a row (or of a map attribute in one) as PynamoDB read it."""
    values = {}
    for name, convert, default in _converters(typing.cast(Any, cls)):
        raw = getattr(row, name, None)
        if raw is None and name in absent:
            values[name] = absent[name]
        elif raw is None and default is not MISSING:
            values[name] = default
        else:
            values[name] = convert(raw)
    return cls(**values)


def read(cls: type[V], model: type[Model], hash_key: Any, range_key: Any = None, *,
         consistent: bool = True) -> V | None:
    """The `cls` value of `model`'s row with this key, or None when there is none."""
    try:
        return value_of(cls, model.get(hash_key, range_key, consistent_read=consistent))
    except model.DoesNotExist:
        return None


def int_or_none(value: Any) -> int | None:
    """A number attribute as an int (PynamoDB reads back what was written: an int, a float or a Decimal), or None."""
    return None if value is None else int(value)


def row_of(model: type[M], value: Any) -> M:
    """A row of `model` holding the value's fields (those the model has; None ones left to the model's default)."""
    attributes = model.get_attributes()
    return model(**{f.name: stored(attributes[f.name], getattr(value, f.name)) for f in fields(value)
                    if f.name in attributes and getattr(value, f.name) is not None})


def stored(attribute: Attribute[Any], value: Any) -> Any:
    """A value as PynamoDB stores it in `attribute`: an enum's value, a set, a list, a TTL's datetime."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return set(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(attribute, TTLAttribute) and isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


@functools.cache
def _converters(cls: Any) -> tuple[tuple[str, Convert, Any], ...]:
    """Each field's name, how a raw attribute becomes it, and its default (MISSING when it has none)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name]), f.default) for f in fields(cls))


def _converter(hint: Any) -> Convert:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        inner = _converter(next(arg for arg in typing.get_args(hint) if arg is not type(None)))
        return lambda raw: None if raw is None else inner(raw)
    origin = typing.get_origin(hint) or hint
    if is_dataclass(hint):
        return lambda raw: value_of(typing.cast(Any, hint), raw)
    if origin is tuple and is_dataclass(inner_type := typing.get_args(hint)[0]):
        return lambda raw: tuple(value_of(typing.cast(Any, inner_type), item) for item in raw)
    if origin is tuple or origin is frozenset:
        return typing.cast(Convert, origin)
    if isinstance(hint, type) and issubclass(hint, enum.Enum | int | bool):
        return hint  # an enum by its value; int and bool as they are typed
    if hint is float:
        return _seconds
    return _as_read


def _seconds(raw: Any) -> float:
    return raw.timestamp() if isinstance(raw, datetime) else float(raw)


def _as_read(raw: Any) -> Any:
    return raw
