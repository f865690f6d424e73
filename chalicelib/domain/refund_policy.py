"""The activation refund policy (DESIGN.md §4, agreement 6.4): which event refunds what, in one table.

The charge becomes final with the first SMS. Ending an activation before any SMS (cancel, timeout,
ban, revoke, partner failure) gives its full price back, unless the operator has switched refunds off
(`Settings.refunds_enabled`, REFUNDS_ENABLED). One exception to the switch: when no number was ever
issued (the activation leaves PENDING for FAILED or REVOKED), nothing was sold, so the debit is always
reversed, whatever the switch says. No refund ever follows an SMS.

A user may cancel, or report a number without an SMS as unusable (that refunds like a cancel, so it
shares the window, or it would be a way around it), only once the early-cancel window is over:
`Settings.cancel_grace_seconds` (CANCEL_GRACE_SECONDS, 120 s by default) after the order.

Changing the policy is changing `REFUND_POLICY` (and `refund_cents` for a new kind of amount); a new
ActivationEvent needs its row (tests/unit/test_activation_state.py checks every event has one). The
state machine (domain/activation_state.py) asks `money_effect` for every move; the refund itself is
one wallet posting in the same transaction as the move (services/activations/lifecycle.py), and
reconciliation expects each refund to equal its charge (services/money/reconcile.py: a partial refund
needs its check changed too). Rentals have their own money rules (paid for time, a 20-minute window):
domain/rental_state.py. Balance refund requests (agreement 6.3) are another matter:
services/money/refund_requests.py.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.activation_status import ActivationEvent


class MoneyEffect(enum.Enum):
    NONE = "none"
    REFUND = "refund"  # give back the full price of the activation


@dataclass(frozen=True)
class RefundRule:
    """What ending an activation by one event gives back, before and after its first SMS."""

    before_sms: MoneyEffect = MoneyEffect.NONE  # the operator's switch applies once a number was issued
    after_sms: MoneyEffect = MoneyEffect.NONE
    waits_for_cancel_window: bool = False  # a user may do it only once the early-cancel window is over

    @property
    def never_refunds(self) -> bool:
        return self.before_sms is MoneyEffect.NONE and self.after_sms is MoneyEffect.NONE


_E = ActivationEvent
_KEEPS_THE_CHARGE = RefundRule()
_FULL_PRICE_BEFORE_SMS = RefundRule(before_sms=MoneyEffect.REFUND)
_USER_ASKS_FULL_PRICE_BEFORE_SMS = RefundRule(before_sms=MoneyEffect.REFUND, waits_for_cancel_window=True)

REFUND_POLICY: Mapping[ActivationEvent, RefundRule] = {
    _E.NUMBER_ISSUED: _KEEPS_THE_CHARGE,
    _E.SMS_ARRIVED: _KEEPS_THE_CHARGE,
    _E.USER_RETRY: _KEEPS_THE_CHARGE,  # another SMS is free
    _E.USER_FINISH: _KEEPS_THE_CHARGE,
    _E.USER_CANCEL: _USER_ASKS_FULL_PRICE_BEFORE_SMS,
    _E.USER_BAN: _USER_ASKS_FULL_PRICE_BEFORE_SMS,  # the number was unusable: a cancel by another name
    _E.EXPIRED: _FULL_PRICE_BEFORE_SMS,  # TIMEOUT (or FAILED, when no number came)
    _E.ADMIN_REVOKE: _FULL_PRICE_BEFORE_SMS,
    _E.PARTNER_FAILED: _FULL_PRICE_BEFORE_SMS,
}


def money_effect(event: ActivationEvent, *, number_issued: bool, had_sms: bool, refunds_enabled: bool) -> MoneyEffect:
    """What ending (or moving) an activation by `event` does to the money, by the table and the switch."""
    rule = REFUND_POLICY[event]
    effect = rule.after_sms if had_sms else rule.before_sms
    if effect is MoneyEffect.NONE or (number_issued and not refunds_enabled):
        return MoneyEffect.NONE
    return effect


def refund_cents(effect: MoneyEffect, price_cents: int) -> int:
    """How much a refund gives back of what the activation cost (0: none)."""
    return price_cents if effect is MoneyEffect.REFUND else 0


def waits_for_cancel_window(event: ActivationEvent, *, has_sms: bool) -> bool:
    """Whether a user's `event` is refused while the early-cancel window is open (only a refund waits)."""
    return REFUND_POLICY[event].waits_for_cancel_window and not has_sms


def cancel_available_at(created_at: float, grace_seconds: int) -> float:
    """When the early-cancel window of an activation ordered at `created_at` closes."""
    return created_at + grace_seconds


def can_cancel_at(created_at: float, now: float, grace_seconds: int) -> bool:
    """Whether the early-cancel window (EARLY_CANCEL_DENIED before it closes) is over at `now`."""
    return now - created_at >= grace_seconds
