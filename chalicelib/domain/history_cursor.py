"""Opaque history cursors: where the next page of one history starts, bound to the account it was given to.

A cursor carries the history's name, a tag of the account (a SHA-256 prefix of its id) and the last key read. The
query it resumes always runs on the caller's own partition, so even a forged cursor reads only the caller's rows;
a cursor given to another account, or to another history, is refused all the same, so a leaked one says so.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import sha256_hex

MAX_CURSOR_CHARS = 200
_TAG_CHARS = 16
_TEXT_KEY = re.compile(r"^[0-9a-zA-Z#_~-]{1,64}$")
_MAX_NUMBER_KEY = (1 << 63) - 1


def encode_cursor(account_id: str, history: str, key: int | str) -> str:
    raw = json.dumps([history, _tag(account_id), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, account_id: str, history: str) -> int | str:
    """The last key the cursor's page read; InvalidInput for anything this API did not give this account."""
    try:
        if len(token) > MAX_CURSOR_CHARS or not token.isascii():
            raise ValueError(token)
        name, tag, key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise _not_ours() from None
    if name != history or tag != _tag(account_id) or not _valid_key(key):
        raise _not_ours()
    return key  # type: ignore[no-any-return]


def _valid_key(key: object) -> bool:
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return 0 <= key <= _MAX_NUMBER_KEY
    return isinstance(key, str) and bool(_TEXT_KEY.match(key))


def _tag(account_id: str) -> str:
    return sha256_hex(account_id)[:_TAG_CHARS]


def _not_ours() -> InvalidInput:
    return InvalidInput("'cursor' is not a cursor this API gave out for this list.", details={"field": "cursor"})
