"""The circuit breaker: a partner that keeps failing is skipped at once until a probe shows it is back."""
from __future__ import annotations

import pytest

from chalicelib.providers.base import PartnerUnavailable
from chalicelib.providers.circuit import CircuitBreaker, CircuitState
from tests.clock import FixedClock


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def breaker(clock: FixedClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, cooldown_seconds=30, clock=clock, name="sim")


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.raise_if_open()
        breaker.record_failure()


def test_raise_if_open__closed_circuit_lets_calls_through(breaker: CircuitBreaker) -> None:
    # Given a breaker that saw fewer failures than its threshold
    _fail(breaker, 2)
    # When a call asks to go through
    breaker.raise_if_open()
    # Then it is let through
    assert breaker.state is CircuitState.CLOSED


def test_record_failure__threshold_of_consecutive_failures_opens_the_circuit(breaker: CircuitBreaker) -> None:
    # Given three consecutive failures
    _fail(breaker, 3)
    # When the next call asks to go through
    # Then it fails at once, naming the partner
    with pytest.raises(PartnerUnavailable, match="sim: circuit open"):
        breaker.raise_if_open()
    assert breaker.state is CircuitState.OPEN


def test_record_success__a_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    # Given two failures, a success, then two more failures
    _fail(breaker, 2)
    breaker.record_success()
    _fail(breaker, 2)
    # When the next call asks to go through
    breaker.raise_if_open()
    # Then the circuit is still closed: the failures were not consecutive
    assert breaker.state is CircuitState.CLOSED


def test_raise_if_open__after_the_cooldown_one_probe_goes_through(breaker: CircuitBreaker, clock: FixedClock) -> None:
    # Given an open circuit whose cooldown is over
    _fail(breaker, 3)
    clock.advance(30)
    assert breaker.state is CircuitState.HALF_OPEN
    # When two calls ask to go through while the first is in flight
    breaker.raise_if_open()
    # Then only the first (the probe) is let through
    with pytest.raises(PartnerUnavailable):
        breaker.raise_if_open()


def test_record_success__a_successful_probe_closes_the_circuit(breaker: CircuitBreaker, clock: FixedClock) -> None:
    # Given a probe let through after the cooldown
    _fail(breaker, 3)
    clock.advance(31)
    breaker.raise_if_open()
    # When it succeeds
    breaker.record_success()
    # Then every call goes through again
    breaker.raise_if_open()
    breaker.raise_if_open()
    assert breaker.state is CircuitState.CLOSED


def test_record_failure__a_failed_probe_opens_the_circuit_for_another_cooldown(
        breaker: CircuitBreaker, clock: FixedClock) -> None:
    # Given a probe let through after the cooldown
    _fail(breaker, 3)
    clock.advance(30)
    breaker.raise_if_open()
    # When it fails
    breaker.record_failure()
    # Then calls fail fast until a whole new cooldown has passed
    clock.advance(29)
    with pytest.raises(PartnerUnavailable):
        breaker.raise_if_open()
    clock.advance(1)
    breaker.raise_if_open()


def test_raise_if_open__a_probe_that_never_reports_is_replaced_after_a_cooldown(
        breaker: CircuitBreaker, clock: FixedClock) -> None:
    # Given a probe whose caller crashed without reporting success or failure
    _fail(breaker, 3)
    clock.advance(30)
    breaker.raise_if_open()
    # When another cooldown has passed
    clock.advance(30)
    # Then a new probe is let through instead of the partner staying blocked forever
    breaker.raise_if_open()


def test_init__threshold_below_one_is_refused() -> None:
    # Given / When a breaker is built with a zero threshold
    # Then it is refused rather than opening on no failure at all
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)


def test_partner_breaker__is_visible_to_the_operator_and_opens_after_failures():
    # Given an SMS-Activate partner nobody answers for
    from chalicelib.providers.base import PartnerUnavailable
    from chalicelib.providers.sms_activate import SmsActivatePartner
    from chalicelib.services.admin.views import _circuit_state

    partner = SmsActivatePartner("dead", "http://127.0.0.1:9/stubs/handler_api.php", "k",
                                 breaker=CircuitBreaker(failure_threshold=2, cooldown_seconds=60))
    assert _circuit_state(partner) == "CLOSED"
    # When two calls fail
    for _ in range(2):
        with pytest.raises(PartnerUnavailable):
            partner.get_balance_minor()
    # Then the operator sees the circuit open
    assert _circuit_state(partner) == "OPEN"
