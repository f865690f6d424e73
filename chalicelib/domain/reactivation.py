"""Which earlier activation's number may be ordered again (SMS-Activate's extra activation, 5sim's reuse).

A number can be had again for the same service when it once worked for the user: it was issued and at least one
SMS arrived. A number the user reported as unusable (BANNED) or that an admin took back (REVOKED) is not sold
again; whether the partner still holds the number is the partner's call (its window), asked at order time.
"""
from __future__ import annotations

from chalicelib.domain.activation_state import ActivationStatus

_NEVER_AGAIN = frozenset({ActivationStatus.BANNED, ActivationStatus.REVOKED})


def reactivation_refusal(status: ActivationStatus, has_sms: bool, phone: str | None) -> str | None:
    """Why this activation's number cannot be ordered again, in words for people; None when it can be asked for."""
    if not phone or not has_sms:
        return "Only a number that received a code can be used again."
    if status in _NEVER_AGAIN:
        return "This number was reported or revoked, so it is not sold again."
    return None
