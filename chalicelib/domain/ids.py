"""Identifiers and secrets come from one generator."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def new_id(prefix: str) -> str:
    """A sortable opaque id: prefix, millisecond time, 64 random bits (e.g. `acc_01j…`)."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe secret with nbytes of randomness (≥ 16 bytes = 128 bits)."""
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """How tokens and API keys are stored: their SHA-256, never the value."""
    return hashlib.sha256(value.encode()).hexdigest()


def hmac_sha256_hex(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of a raw body: how pushes and webhooks are signed, and recomputed to be trusted."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or their hashes."""
    return hmac.compare_digest(a.encode(), b.encode())
