"""Passwords: the policy (length 8–128, not a common password) and argon2id hashing with OWASP's parameters.

`data/common_passwords.txt` holds the 500 most common passwords of 8 or more characters from the list
Django ships (Royce Williams' 20 000, by frequency); shorter ones fail the length rule anyway.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.domain.errors import InvalidInput

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 8
MAX_LENGTH = 128
_COMMON = Path(__file__).resolve().parents[2] / "data" / "common_passwords.txt"


@dataclass(frozen=True)
class Argon2Params:
    """OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane. Unit tests may pass cheaper ones for speed."""

    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1


@functools.cache
def _common_passwords() -> frozenset[str]:
    return frozenset(line.strip() for line in _COMMON.read_text(encoding="utf-8").splitlines() if line.strip())


def _weak(message: str) -> InvalidInput:
    return InvalidInput(message, code="WEAK_PASSWORD", details={"field": "password"})


class Passwords:
    def __init__(self, params: Argon2Params | None = None) -> None:
        self._params = params or Argon2Params()
        self._built: PasswordHasher | None = None
        self._dummy_hash: str | None = None

    @property
    def _hasher(self) -> PasswordHasher:
        # argon2 is imported on the first hash, not with the module: most requests never touch a password.
        if self._built is None:
            from argon2 import PasswordHasher, Type

            p = self._params
            self._built = PasswordHasher(time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism,
                                         type=Type.ID)
        return self._built

    def check_policy(self, password: str, email: str) -> None:
        """Raises InvalidInput (WEAK_PASSWORD) for a password too short, too long, common, or the email itself."""
        if len(password) < MIN_LENGTH:
            raise _weak(f"The password must have at least {MIN_LENGTH} characters.")
        if len(password) > MAX_LENGTH:
            raise _weak(f"The password must have at most {MAX_LENGTH} characters.")
        lowered = password.lower()
        if lowered in _common_passwords() or lowered in {email, email.split("@")[0]}:
            raise _weak("This password is too common or too easy to guess; choose another.")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether the password matches; with no hash (unknown email) it burns the same time and says no."""
        if password_hash is None:
            self._verify(self._dummy(), password)
            return False
        return self._verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones (rehash on sign-in)."""
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("not a real password: equalises the time of unknown emails")
        return self._dummy_hash
