"""TOTP codes (RFC 6238, computed by pyotp) and recovery codes: the arithmetic of two-factor sign-in, no I/O.

A code is 6 digits of a 30-second step; the step before and after are accepted (clock drift). Recovery
codes are 16 characters of an alphabet without look-alikes (about 79 bits), shown once, stored as SHA-256.
How they are stored, spent once and throttled: services/accounts/two_factor.py.
"""
from __future__ import annotations

import hmac
import secrets

import pyotp

from chalicelib.domain.ids import sha256_hex

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from paper
_RECOVERY_LENGTH = 16  # ~79 bits: a stolen table of SHA-256 hashes cannot be searched
_MAX_CODE_LENGTH = 40


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step at `now` (or one step either side, for clock drift) whose code `code` is; None when none is."""
    code = code.strip()
    if not is_totp_shaped(code):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now_step = int(now // STEP_SECONDS)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def is_totp_shaped(code: str) -> bool:
    """Six ASCII digits: an app's code (anything else may be a recovery code)."""
    code = code.strip()
    return len(code) == 6 and code.isascii() and code.isdigit()


def normalised_recovery_code(code: str) -> str:
    """A recovery code as typed (any case, with or without dashes and spaces) as it was hashed."""
    return "".join(c for c in code[:_MAX_CODE_LENGTH].lower() if c not in "- ")


def new_recovery_codes() -> tuple[list[str], set[str]]:
    """Fresh recovery codes: as shown once (grouped by 4), and their SHA-256 hashes as stored."""
    raw = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
           for _ in range(RECOVERY_CODE_COUNT)]
    shown = ["-".join(c[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)) for c in raw]
    return shown, {sha256_hex(c) for c in raw}
