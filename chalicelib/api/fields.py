"""Strict reads of everything a client sends (JSON bodies and their fields, query strings, path ids): bad input
is a 422 naming the field (or the adapter's own refusal), never a 500.

Python's own predicates are too kind for this: `'²'.isdigit()` and `'٣'.isdigit()` are true (and int() takes
'٣' but not '²'), json.loads recurses once per nesting level, and a str may hold a lone surrogate that no
UTF-8 encoder (DynamoDB's, the email library's, the password hasher's) accepts. Every adapter reads through
these functions instead.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.errors import InvalidInput

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
# Ids and amounts fit DynamoDB's 38-digit numbers with room to spare; nothing we issue is longer.
MAX_INTEGER = 10**15 - 1
ID_DIGITS = 16  # activation ids are below 2^53 (domain/ids.new_numeric_id)

_ASCII_DIGITS = re.compile(r"[0-9]+")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


# ---- predicates the protocol adapters map to their own refusals ----------------------------------------------


def digits(raw: str, *, max_digits: int = ID_DIGITS) -> int | None:
    """`raw` as a whole number when it is 1 to `max_digits` ASCII digits (no sign, no '²', no '٣'), else None."""
    if not 0 < len(raw) <= max_digits or not _ASCII_DIGITS.fullmatch(raw):
        return None
    return int(raw)


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or sent (a lone surrogate, a NUL), or None when it can."""
    if _LONE_SURROGATE.search(value):
        return "is not valid Unicode text (it holds an unpaired surrogate)"
    if "\x00" in value:
        return "must not contain a NUL character"
    return None


def within_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests at most `limit` arrays/objects deep, by a scan that never recurses.

    Run before json.loads, whose recursion a body nested 100k deep turns into a RecursionError. Brackets inside
    strings do not count; an unbalanced text passes here and fails in json.loads as malformed.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return True  # the common case, at C speed
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return True


# ---- REST v1 reads: refusals are InvalidInput (422) naming the field --------------------------------------------


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """`raw` as a JSON object; too large, too deep, not JSON or not an object is an InvalidInput naming `what`."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput(f"The {what} is too large.", code="BODY_TOO_LARGE")
    if not within_depth(raw):
        raise InvalidInput(f"The {what} nests deeper than {MAX_JSON_DEPTH} levels.", code="MALFORMED_JSON")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput(f"The {what} is not valid JSON.", code="MALFORMED_JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"The {what} must be a JSON object.", code="MALFORMED_JSON")
    return body


def text(body: dict[str, Any], name: str, *, max_length: int = 1000, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"'{name}' is required.", details={"field": name})
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.", details={"field": name})
    return checked_text(value, name, max_length=max_length)


def optional_text(body: dict[str, Any], name: str, *, max_length: int = 1000) -> str | None:
    return text(body, name, max_length=max_length, required=False) or None


def checked_text(value: str, name: str, *, max_length: int = 1000) -> str:
    """`value` when it is storable text of at most `max_length` characters, else an InvalidInput naming `name`."""
    if len(value) > max_length:
        raise InvalidInput(f"'{name}' is longer than {max_length} characters.", details={"field": name})
    problem = text_problem(value)
    if problem:
        raise InvalidInput(f"'{name}' {problem}.", details={"field": name})
    return value


def integer(body: dict[str, Any], name: str, *, minimum: int | None = None, maximum: int = MAX_INTEGER,
            required: bool = True) -> int | None:
    """A whole number in a JSON body, at most `maximum` (by default far below DynamoDB's 38 digits)."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"'{name}' is required.", details={"field": name})
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be a whole number.", details={"field": name})
    if minimum is not None and value < minimum:
        raise InvalidInput(f"'{name}' must be at least {minimum}.", details={"field": name})
    if value > maximum:
        raise InvalidInput(f"'{name}' must be at most {maximum}.", details={"field": name})
    return value


def required_integer(body: dict[str, Any], name: str, *, minimum: int | None = None,
                     maximum: int = MAX_INTEGER) -> int:
    value = integer(body, name, minimum=minimum, maximum=maximum)
    assert value is not None
    return value


def query_integer(query: Mapping[str, str], name: str, *, minimum: int = 0, maximum: int = MAX_INTEGER) -> int | None:
    """A query-string whole number from `minimum` to `maximum`; absent or empty is None."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    value = digits(raw, max_digits=len(str(maximum)))
    if value is None or not minimum <= value <= maximum:
        raise InvalidInput(f"'{name}' must be a whole number from {minimum} to {maximum}.", details={"field": name})
    return value


def boolean(body: dict[str, Any], name: str, *, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be true or false.", details={"field": name})
    return value


def bearer(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header (case-insensitive scheme)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
