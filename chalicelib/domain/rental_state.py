"""Rentals: a number held for hours to weeks that receives every SMS sent to it; its states, moves and money rules.

A rental is paid up front for its duration (and again for each extension). The money rules, as the industry has
them (SMS-Activate's rent API): a rental canceled within the cancel window (20 minutes, RENTAL_CANCEL_WINDOW_SECONDS)
and before any SMS is refunded in full; after that, or once an SMS arrived, it can only be finished (ended early,
no refund); at its end time it expires (no refund: the time was sold). A rental that never got a number (every
partner failed, or the order was lost in a crash) is refunded whatever the switches say: nothing was sold.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from chalicelib.domain.errors import IllegalTransition, InvalidInput

MIN_RENT_HOURS = 4  # SMS-Activate's MINIMAL_RENT_TIME
MAX_RENT_HOURS = 4 * 7 * 24  # four weeks
MAX_LIST_LIMIT = 100  # rentals in one page of a list
# "full": SMS-Activate's rent service code for a number that receives every service's SMS.
ANY_SERVICE = "full"


class RentalStatus(enum.StrEnum):  # a str: a value compares and prints as its wire word
    PENDING = "PENDING"  # debited, asking partners for a number
    ACTIVE = "ACTIVE"  # number held, receiving SMS until ends_at
    FINISHED = "FINISHED"  # ended early by the user (no refund)
    CANCELED = "CANCELED"  # canceled in the window before any SMS (refunded)
    EXPIRED = "EXPIRED"  # its time ran out
    FAILED = "FAILED"  # no number could be had (refunded)


class RentalEvent(enum.Enum):
    NUMBER_ISSUED = "number_issued"
    PARTNER_FAILED = "partner_failed"
    USER_FINISH = "user_finish"
    USER_CANCEL = "user_cancel"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset({RentalStatus.FINISHED, RentalStatus.CANCELED, RentalStatus.EXPIRED, RentalStatus.FAILED})

_S, _E = RentalStatus, RentalEvent

# (status, event) → (next status, refunds everything paid)
_MOVES: dict[tuple[RentalStatus, RentalEvent], tuple[RentalStatus, bool]] = {
    (_S.PENDING, _E.NUMBER_ISSUED): (_S.ACTIVE, False),
    (_S.PENDING, _E.PARTNER_FAILED): (_S.FAILED, True),
    (_S.PENDING, _E.EXPIRED): (_S.FAILED, True),
    (_S.ACTIVE, _E.USER_FINISH): (_S.FINISHED, False),
    (_S.ACTIVE, _E.USER_CANCEL): (_S.CANCELED, True),
    (_S.ACTIVE, _E.EXPIRED): (_S.EXPIRED, False),
}

_VERBS = {_E.NUMBER_ISSUED: "get a number", _E.PARTNER_FAILED: "fail", _E.USER_FINISH: "be finished",
          _E.USER_CANCEL: "be canceled", _E.EXPIRED: "expire"}


@dataclass(frozen=True)
class RentRequest:
    service: str  # a service code, or ANY_SERVICE
    country: int
    hours: int
    operator: str | None = None
    max_price_cents: int | None = None


@dataclass(frozen=True)
class RentalMove:
    status: RentalStatus
    refund: bool  # give back everything the rental was charged


def is_final(status: RentalStatus) -> bool:
    return status in FINAL_STATUSES


def rental_move(status: RentalStatus, event: RentalEvent) -> RentalMove:
    """Where `event` leads from `status`, or IllegalTransition (the cancel window is judged by `cancel_refusal`)."""
    move = _MOVES.get((status, event))
    if move is None:
        if status is _S.PENDING and event in (_E.USER_CANCEL, _E.USER_FINISH):
            raise IllegalTransition("The number is still being acquired; try again in a few seconds.",
                                    details={"status": status.value, "event": event.value})
        raise IllegalTransition(f"A rental that is {status.value} cannot {_VERBS[event]}.",
                                details={"status": status.value, "event": event.value}, code="RENTAL_ENDED")
    return RentalMove(*move)


def cancel_refusal(*, created_at: float, now: float, window_seconds: int, has_sms: bool) -> str | None:
    """Why a user may not cancel (with refund) now, or None when they may: only in the window and before any SMS."""
    if has_sms:
        return "An SMS has arrived, so the rental can no longer be canceled with a refund: finish it instead."
    if window_seconds <= 0 or now - created_at >= window_seconds:
        minutes = max(window_seconds, 0) // 60
        return (f"A rental can be canceled with a refund only in its first {minutes} minutes and before any SMS: "
                "finish it instead." if window_seconds > 0 else
                "Rentals are not refundable here: finish it instead.")
    return None


def validate_hours(hours: int) -> None:
    """A rental lasts from MIN_RENT_HOURS to MAX_RENT_HOURS whole hours (an extension too, and the total)."""
    if not MIN_RENT_HOURS <= hours <= MAX_RENT_HOURS:
        raise InvalidInput(f"A rental lasts from {MIN_RENT_HOURS} to {MAX_RENT_HOURS} hours (four weeks).",
                           code="INVALID_TIME", details={"field": "hours", "min": MIN_RENT_HOURS,
                                                         "max": MAX_RENT_HOURS})
