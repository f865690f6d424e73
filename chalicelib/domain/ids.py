"""Identifiers and secrets come from one generator."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time

# Numeric ids: milliseconds since 2025 in the high bits, 12 bits of sequence below. 2^53 - 1 (the largest integer
# JavaScript holds exactly) is reached in 2094; ids grow with time, so "newest first" stays "highest id first".
_NUMERIC_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
_SEQUENCE_BITS = 12
_RANDOM_START = 1 << (_SEQUENCE_BITS - 1)  # a millisecond's first id starts at a random point of its lower half
_sequence_lock = threading.Lock()
_last_numeric_id = 0

MAX_ID_LENGTH = 128
_ID = re.compile(r"[A-Za-z0-9_.:-]+")


def new_id(prefix: str) -> str:
    """A sortable opaque id: prefix, millisecond time, 64 random bits (e.g. `acc_01j…`)."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def new_numeric_id() -> int:
    """A positive, time-ordered integer id below 2^53 (activation ids: SMS-Activate clients int() them).

    No round trip to a counter: one process never repeats an id and draws them strictly increasing, and two
    processes collide only by drawing the same millisecond and sequence, which the caller's `does_not_exist`
    condition catches (then it draws again).
    """
    return new_numeric_ids(1)[0]


def new_numeric_ids(count: int) -> list[int]:
    """`count` ids of `new_numeric_id`, ascending, drawn together: none of them is drawn again by this process (a
    batch's later keys are not the next caller's).

    Each is above every id the process drew before, even when it draws more than a millisecond's 4,096 (the next
    ones borrow from the coming milliseconds) or the clock steps back: the money's read-free debits need a key
    above the account's newest credit (services/money/wallet.py), and a sequence that wrapped within one
    millisecond drew a lower one."""
    global _last_numeric_id
    with _sequence_lock:
        now = (int(time.time() * 1000) - _NUMERIC_EPOCH_MS) << _SEQUENCE_BITS
        first = now | secrets.randbelow(_RANDOM_START) if now > _last_numeric_id else _last_numeric_id + 1
        _last_numeric_id = first + count - 1
    return list(range(first, first + count))


def numeric_id_at(ts: float) -> int:
    """The lowest numeric id drawn at or after `ts` (epoch seconds): a time range is an id range."""
    return max(0, int(ts * 1000) - _NUMERIC_EPOCH_MS) << _SEQUENCE_BITS


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe secret with nbytes of randomness (≥ 16 bytes = 128 bits)."""
    return secrets.token_urlsafe(nbytes)


def is_identifier(raw: str, max_length: int = MAX_ID_LENGTH) -> bool:
    """An id we or Stripe could have issued: 1 to `max_length` ASCII letters, digits and `_ . : -` (so it fits a
    DynamoDB key, and any other text a client sends in its place names nothing)."""
    return 0 < len(raw) <= max_length and bool(_ID.fullmatch(raw))


def sha256_hex(value: str) -> str:
    """How tokens and API keys are stored: their SHA-256, never the value."""
    return hashlib.sha256(_utf8(value)).hexdigest()


def hmac_sha256_hex(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of a raw body: how pushes and webhooks are signed, and recomputed to be trusted."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or their hashes."""
    return hmac.compare_digest(_utf8(a), _utf8(b))


def _utf8(value: str) -> bytes:
    # A guessed secret may hold an unpaired surrogate: it hashes and compares (unequal), it does not raise.
    return value.encode("utf-8", "surrogatepass")
