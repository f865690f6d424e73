"""Typed reads of JSON body fields: a wrong or missing field is a 422 naming the field, never a 500."""
from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import InvalidInput


def text(body: dict[str, Any], name: str, *, max_length: int = 1000, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"'{name}' is required.", details={"field": name})
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.", details={"field": name})
    if len(value) > max_length:
        raise InvalidInput(f"'{name}' is longer than {max_length} characters.", details={"field": name})
    return value


def optional_text(body: dict[str, Any], name: str, *, max_length: int = 1000) -> str | None:
    return text(body, name, max_length=max_length, required=False) or None


def integer(body: dict[str, Any], name: str, *, minimum: int | None = None, maximum: int | None = None,
            required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"'{name}' is required.", details={"field": name})
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be a whole number.", details={"field": name})
    if minimum is not None and value < minimum:
        raise InvalidInput(f"'{name}' must be at least {minimum}.", details={"field": name})
    if maximum is not None and value > maximum:
        raise InvalidInput(f"'{name}' must be at most {maximum}.", details={"field": name})
    return value


def required_integer(body: dict[str, Any], name: str, *, minimum: int | None = None,
                     maximum: int | None = None) -> int:
    value = integer(body, name, minimum=minimum, maximum=maximum)
    assert value is not None
    return value


def boolean(body: dict[str, Any], name: str, *, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be true or false.", details={"field": name})
    return value
