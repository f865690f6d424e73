"""The activation state machine: which moves are legal, where they lead, and what each does to the user's money.

The refund policy (which move refunds what) is domain/refund_policy.py; this module asks it for every move.

Choices made here, so every adapter behaves alike:
- USER_FINISH needs an SMS: finishing a WAITING activation is refused (cancel it instead). Industry
  clients send `setStatus=6` only after a code arrived.
- USER_CANCEL after an SMS is refused: the charge is final; finish the activation instead.
- USER_RETRY on a RETRY activation is allowed and changes nothing, so a client that repeats
  `setStatus=3` after a network error is not told off.
- EXPIRED after an SMS finishes the activation (the user got what they paid for); before any SMS it
  is a TIMEOUT; a PENDING activation that outlived its lifetime never got a number and ends FAILED.
- PARTNER_FAILED on a WAITING activation (the partner dropped the number before any SMS) ends it
  FAILED, like a failure while acquiring.
- Final states accept no event: an SMS that arrives after a cancel or a timeout changes nothing.
- The early-cancel window is time, not state: the service checks it (domain/refund_policy.py, `can_cancel_at`).
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.activation_status import ActivationEvent, ActivationStatus
from chalicelib.domain.errors import IllegalTransition
from chalicelib.domain.refund_policy import REFUND_POLICY, MoneyEffect, money_effect


@dataclass(frozen=True)
class Transition:
    status: ActivationStatus
    money: MoneyEffect


_S = ActivationStatus
_E = ActivationEvent

FINAL_STATUSES: frozenset[ActivationStatus] = frozenset(
    {_S.FINISHED, _S.CANCELED, _S.TIMEOUT, _S.BANNED, _S.REVOKED, _S.FAILED})
ACTIVE_STATUSES: frozenset[ActivationStatus] = frozenset(ActivationStatus) - FINAL_STATUSES
_WITH_SMS: frozenset[ActivationStatus] = frozenset({_S.RECEIVED, _S.RETRY})

# Where each legal move leads; what it does to the money is the refund policy's (domain/refund_policy.py).
_MOVES: dict[tuple[ActivationStatus, ActivationEvent], ActivationStatus] = {
    (_S.PENDING, _E.NUMBER_ISSUED): _S.WAITING,
    (_S.PENDING, _E.PARTNER_FAILED): _S.FAILED,
    (_S.PENDING, _E.EXPIRED): _S.FAILED,
    (_S.PENDING, _E.ADMIN_REVOKE): _S.REVOKED,

    (_S.WAITING, _E.SMS_ARRIVED): _S.RECEIVED,
    (_S.WAITING, _E.USER_CANCEL): _S.CANCELED,
    (_S.WAITING, _E.EXPIRED): _S.TIMEOUT,
    (_S.WAITING, _E.USER_BAN): _S.BANNED,
    (_S.WAITING, _E.ADMIN_REVOKE): _S.REVOKED,
    (_S.WAITING, _E.PARTNER_FAILED): _S.FAILED,

    (_S.RECEIVED, _E.SMS_ARRIVED): _S.RECEIVED,
    (_S.RECEIVED, _E.USER_RETRY): _S.RETRY,
    (_S.RECEIVED, _E.USER_FINISH): _S.FINISHED,
    (_S.RECEIVED, _E.EXPIRED): _S.FINISHED,
    (_S.RECEIVED, _E.USER_BAN): _S.BANNED,
    (_S.RECEIVED, _E.ADMIN_REVOKE): _S.REVOKED,

    (_S.RETRY, _E.SMS_ARRIVED): _S.RECEIVED,
    (_S.RETRY, _E.USER_RETRY): _S.RETRY,
    (_S.RETRY, _E.USER_FINISH): _S.FINISHED,
    (_S.RETRY, _E.EXPIRED): _S.FINISHED,
    (_S.RETRY, _E.USER_BAN): _S.BANNED,
    (_S.RETRY, _E.ADMIN_REVOKE): _S.REVOKED,
}

_REFUSALS: dict[tuple[ActivationStatus, ActivationEvent], str] = {
    (_S.RECEIVED, _E.USER_CANCEL): "The SMS has arrived, so the charge is final: finish the activation instead.",
    (_S.RETRY, _E.USER_CANCEL): "The SMS has arrived, so the charge is final: finish the activation instead.",
    (_S.WAITING, _E.USER_FINISH): "No SMS has arrived yet: cancel the activation instead of finishing it.",
    (_S.WAITING, _E.USER_RETRY): "No SMS has arrived yet, so there is nothing to ask for again.",
    (_S.PENDING, _E.USER_CANCEL): "The number is still being acquired; try again in a few seconds.",
}

_VERBS: dict[ActivationEvent, str] = {
    _E.NUMBER_ISSUED: "get a number",
    _E.PARTNER_FAILED: "fail",
    _E.SMS_ARRIVED: "receive an SMS",
    _E.USER_CANCEL: "be canceled",
    _E.USER_FINISH: "be finished",
    _E.USER_RETRY: "wait for another SMS",
    _E.USER_BAN: "be reported as unusable",
    _E.EXPIRED: "expire",
    _E.ADMIN_REVOKE: "be revoked",
}


def is_final(status: ActivationStatus) -> bool:
    return status in FINAL_STATUSES


def transition(status: ActivationStatus, event: ActivationEvent, *, has_sms: bool,
               refunds_enabled: bool) -> Transition:
    """The next status and the money consequence of `event`, or IllegalTransition.

    has_sms says whether an SMS was delivered before this event. A WAITING activation that already
    holds an SMS is judged as RECEIVED, so a stale status can never turn into a refund after an SMS.
    """
    current = _judged_as(status, has_sms=has_sms)
    move = _MOVES.get((current, event))
    if move is None:
        raise _illegal(status, current, event)
    return Transition(move, money_effect(event, number_issued=current is not _S.PENDING,
                                         had_sms=has_sms or current in _WITH_SMS, refunds_enabled=refunds_enabled))


def allowed_events(status: ActivationStatus, *, has_sms: bool) -> frozenset[ActivationEvent]:
    """Every event `transition` accepts from this status (what a dashboard may offer)."""
    current = _judged_as(status, has_sms=has_sms)
    return frozenset(event for (source, event) in _MOVES if source is current)


@dataclass(frozen=True)
class BlindMove:
    """An event that can be applied without reading the activation first: from every status it is legal in it
    leads to one status and never touches money, so a conditional write on the status alone is the whole check."""

    target: ActivationStatus
    sources: frozenset[ActivationStatus]  # stored statuses it applies to, whatever has_sms says
    sources_with_sms: frozenset[ActivationStatus]  # stored statuses it applies to only once an SMS is held


def blind_move(event: ActivationEvent) -> BlindMove | None:
    """The BlindMove of `event`, or None when where it leads depends on more than the status (a refund may follow)."""
    moves = {source: target for (source, e), target in _MOVES.items() if e is event}
    if len(set(moves.values())) != 1 or not REFUND_POLICY[event].never_refunds:
        return None
    judged_with_sms = frozenset(s for s in ActivationStatus if _judged_as(s, has_sms=True) in moves
                                and _judged_as(s, has_sms=False) not in moves)
    return BlindMove(target=next(iter(moves.values())), sources=frozenset(moves), sources_with_sms=judged_with_sms)


def _judged_as(status: ActivationStatus, *, has_sms: bool) -> ActivationStatus:
    return _S.RECEIVED if status is _S.WAITING and has_sms else status


def _illegal(status: ActivationStatus, judged_as: ActivationStatus, event: ActivationEvent) -> IllegalTransition:
    message = _REFUSALS.get((judged_as, event)) or f"An activation that is {status.value} cannot {_VERBS[event]}."
    return IllegalTransition(message, details={"status": status.value, "event": event.value})
