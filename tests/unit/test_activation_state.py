"""The activation state machine: every legal and illegal move, the refund policy, and properties over any history."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.activation_state import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ActivationEvent,
    ActivationStatus,
    MoneyEffect,
    Transition,
    allowed_events,
    is_final,
    transition,
)
from chalicelib.domain.errors import Conflict, IllegalTransition
from chalicelib.domain.refund_policy import REFUND_POLICY, can_cancel_at

S = ActivationStatus
E = ActivationEvent
NONE = MoneyEffect.NONE
REFUND = MoneyEffect.REFUND

# Every legal move with refunds on; has_sms follows the status (RECEIVED and RETRY hold an SMS).
LEGAL = {
    (S.PENDING, E.NUMBER_ISSUED): (S.WAITING, NONE),
    (S.PENDING, E.PARTNER_FAILED): (S.FAILED, REFUND),
    (S.PENDING, E.EXPIRED): (S.FAILED, REFUND),
    (S.PENDING, E.ADMIN_REVOKE): (S.REVOKED, REFUND),
    (S.WAITING, E.SMS_ARRIVED): (S.RECEIVED, NONE),
    (S.WAITING, E.USER_CANCEL): (S.CANCELED, REFUND),
    (S.WAITING, E.EXPIRED): (S.TIMEOUT, REFUND),
    (S.WAITING, E.USER_BAN): (S.BANNED, REFUND),
    (S.WAITING, E.ADMIN_REVOKE): (S.REVOKED, REFUND),
    (S.WAITING, E.PARTNER_FAILED): (S.FAILED, REFUND),
    (S.RECEIVED, E.SMS_ARRIVED): (S.RECEIVED, NONE),
    (S.RECEIVED, E.USER_RETRY): (S.RETRY, NONE),
    (S.RECEIVED, E.USER_FINISH): (S.FINISHED, NONE),
    (S.RECEIVED, E.EXPIRED): (S.FINISHED, NONE),
    (S.RECEIVED, E.USER_BAN): (S.BANNED, NONE),
    (S.RECEIVED, E.ADMIN_REVOKE): (S.REVOKED, NONE),
    (S.RETRY, E.SMS_ARRIVED): (S.RECEIVED, NONE),
    (S.RETRY, E.USER_RETRY): (S.RETRY, NONE),
    (S.RETRY, E.USER_FINISH): (S.FINISHED, NONE),
    (S.RETRY, E.EXPIRED): (S.FINISHED, NONE),
    (S.RETRY, E.USER_BAN): (S.BANNED, NONE),
    (S.RETRY, E.ADMIN_REVOKE): (S.REVOKED, NONE),
}
ILLEGAL = [(status, event) for status in S for event in E if (status, event) not in LEGAL]
HOLDS_SMS = {S.RECEIVED, S.RETRY}


def _id(pair: tuple[ActivationStatus, ActivationEvent]) -> str:
    return f"{pair[0].value}-{pair[1].name}"


@pytest.mark.parametrize(("move", "expected"), LEGAL.items(), ids=[_id(m) for m in LEGAL])
def test_transition__legal_move_lands_where_the_policy_says(
        move: tuple[ActivationStatus, ActivationEvent], expected: tuple[ActivationStatus, MoneyEffect]) -> None:
    # Given an activation in the move's source status
    status, event = move
    # When the event happens with refunds on
    result = transition(status, event, has_sms=status in HOLDS_SMS, refunds_enabled=True)
    # Then it lands in the expected status with the expected money consequence
    assert result == Transition(*expected)


@pytest.mark.parametrize("move", ILLEGAL, ids=[_id(m) for m in ILLEGAL])
def test_transition__illegal_move_is_a_conflict(move: tuple[ActivationStatus, ActivationEvent]) -> None:
    # Given an activation in a status that does not accept the event
    status, event = move
    # When the event happens
    with pytest.raises(IllegalTransition) as raised:
        transition(status, event, has_sms=status in HOLDS_SMS, refunds_enabled=True)
    # Then the error is a 409-class conflict that names the status and the event
    assert isinstance(raised.value, Conflict)
    assert raised.value.code == "ILLEGAL_TRANSITION"
    assert raised.value.details == {"status": status.value, "event": event.value}


@pytest.mark.parametrize("status", [S.RECEIVED, S.RETRY], ids=lambda s: s.value)
def test_transition__cancel_after_sms__refused_because_charge_is_final(status: ActivationStatus) -> None:
    # Given an activation that received its SMS
    # When the user tries to cancel it
    with pytest.raises(IllegalTransition) as raised:
        transition(status, E.USER_CANCEL, has_sms=True, refunds_enabled=True)
    # Then the user is told the charge is final and to finish instead
    assert "final" in raised.value.message
    assert "finish" in raised.value.message


def test_transition__finish_before_any_sms__refused_with_a_hint_to_cancel() -> None:
    # Given a number that is still waiting for its SMS
    # When the user tries to finish it
    with pytest.raises(IllegalTransition) as raised:
        transition(S.WAITING, E.USER_FINISH, has_sms=False, refunds_enabled=True)
    # Then the user is pointed to cancel, which refunds
    assert "cancel" in raised.value.message


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (S.WAITING, E.USER_CANCEL, NONE),
        (S.WAITING, E.EXPIRED, NONE),
        (S.WAITING, E.USER_BAN, NONE),
        (S.WAITING, E.ADMIN_REVOKE, NONE),
        (S.WAITING, E.PARTNER_FAILED, NONE),
        (S.PENDING, E.PARTNER_FAILED, REFUND),
        (S.PENDING, E.EXPIRED, REFUND),
        (S.PENDING, E.ADMIN_REVOKE, REFUND),
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_transition__refunds_switched_off__only_activations_that_never_got_a_number_are_refunded(
        status: ActivationStatus, event: ActivationEvent, expected: MoneyEffect) -> None:
    # Given the operator has switched refunds off (agreement 6.4)
    # When an activation ends before any SMS
    result = transition(status, event, has_sms=False, refunds_enabled=False)
    # Then an issued number keeps its charge, but a number that was never issued is still refunded
    assert result.money is expected


def test_transition__waiting_that_already_holds_an_sms__is_judged_as_received() -> None:
    # Given a WAITING activation whose SMS is already stored (a stale status)
    # When it expires, or the user tries to cancel it
    expired = transition(S.WAITING, E.EXPIRED, has_sms=True, refunds_enabled=True)
    # Then it is finished without a refund, and the cancel is refused
    assert expired == Transition(S.FINISHED, NONE)
    with pytest.raises(IllegalTransition):
        transition(S.WAITING, E.USER_CANCEL, has_sms=True, refunds_enabled=True)


def test_allowed_events__waiting__offers_what_a_user_and_the_system_can_do() -> None:
    # Given a number waiting for its SMS
    # When the dashboard asks what may happen next
    events = allowed_events(S.WAITING, has_sms=False)
    # Then cancel, ban, SMS, expiry, revoke and partner failure are possible, finish and retry are not
    assert events == {E.SMS_ARRIVED, E.USER_CANCEL, E.USER_BAN, E.EXPIRED, E.ADMIN_REVOKE, E.PARTNER_FAILED}


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES), ids=lambda s: s.value)
def test_allowed_events__final_status__offers_nothing(status: ActivationStatus) -> None:
    # Given an activation that ended
    # When asked what may happen next
    # Then nothing may
    assert allowed_events(status, has_sms=False) == frozenset()
    assert is_final(status)


def test_statuses__active_and_final__partition_every_status() -> None:
    # Given the two published sets
    # When they are compared with the enum
    # Then every status is exactly one of active or final, and the active ones are the four live ones
    assert ACTIVE_STATUSES | FINAL_STATUSES == set(S)
    assert not ACTIVE_STATUSES & FINAL_STATUSES
    assert {S.PENDING, S.WAITING, S.RECEIVED, S.RETRY} == ACTIVE_STATUSES
    assert not any(is_final(s) for s in ACTIVE_STATUSES)


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, False), (119.9, False), (120.0, True), (600.0, True)],
)
def test_can_cancel_at__grace_window(elapsed: float, expected: bool) -> None:
    # Given an activation created at t=1000 with a 120-second early-cancel window
    created_at = 1000.0
    # When the user cancels `elapsed` seconds later
    # Then cancel is allowed from the end of the window on
    assert can_cancel_at(created_at, created_at + elapsed, 120) is expected


@settings(max_examples=500, deadline=None)
@given(events=st.lists(st.sampled_from(list(E)), max_size=25), refunds_enabled=st.booleans())
def test_transition__any_event_history__never_strands_refunds_twice_or_refunds_after_sms(
        events: list[ActivationEvent], refunds_enabled: bool) -> None:
    # Given a fresh activation
    status, has_sms, refunds = S.PENDING, False, 0
    # When any sequence of events happens (illegal ones are refused and change nothing)
    for event in events:
        try:
            result = transition(status, event, has_sms=has_sms, refunds_enabled=refunds_enabled)
        except IllegalTransition:
            continue
        # Then no refund ever follows an SMS
        assert not (has_sms and result.money is REFUND)
        refunds += result.money is REFUND
        has_sms = has_sms or event is E.SMS_ARRIVED
        status = result.status
        # And a live activation always has a way to end
        if not is_final(status):
            endings = [transition(status, e, has_sms=has_sms, refunds_enabled=refunds_enabled).status
                       for e in allowed_events(status, has_sms=has_sms)]
            assert any(is_final(s) for s in endings)
    # And the price is refunded at most once
    assert refunds <= 1


def test_refund_policy__every_event_has_a_row() -> None:
    # Given the refund policy's one table (domain/refund_policy.py)
    # When it is compared with every event an activation knows
    # Then each event says what it refunds: a new event cannot be added without deciding its refund
    assert set(REFUND_POLICY) == set(ActivationEvent)
