"""The sign-in throttle's rules on their own, over its counts in memory (tests/fakes/throttle_store.py): no moto.
Sign-in through the whole account service is tested in test_accounts_signin.py."""
from __future__ import annotations

import pytest

from chalicelib.domain.errors import RateLimited
from chalicelib.services.accounts.login_throttle import PAIR_RULE, WINDOW_SECONDS, SignInThrottle
from tests.clock import FixedClock
from tests.fakes.throttle_store import FakeThrottleStore

EMAIL, IP, OTHER_IP = "ann@example.com", "198.51.100.7", "203.0.113.9"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_900_000_000.0)


@pytest.fixture
def throttle(clock: FixedClock) -> SignInThrottle:
    """An IP may fail on 3 emails before new emails from it wait."""
    return SignInThrottle(clock, ip_free_failures=3, store=FakeThrottleStore())


def _wait(throttle: SignInThrottle, email: str = EMAIL, ip: str = IP, *, known_at_ip: bool = False) -> int:
    try:
        throttle.check(email, ip, known_at_ip=known_at_ip)
    except RateLimited as refused:
        return refused.retry_after_seconds or 0
    return 0


def test_record_failure__past_the_free_ones_a_pair_waits_twice_as_long_each_time_up_to_a_minute(throttle, clock):
    # Given the free failures of a pair used up
    for _ in range(PAIR_RULE.free_failures):
        throttle.record_failure(EMAIL, IP)
    waits = [_wait(throttle, known_at_ip=True)]
    # When each further failure comes once the wait is over
    for _ in range(8):
        throttle.record_failure(EMAIL, IP)
        waits.append(_wait(throttle, known_at_ip=True))
        clock.advance(waits[-1])
    # Then the waits double from 1 s and stop at the pair's minute
    assert waits == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_check__an_ip_failing_on_many_emails_waits_for_new_emails_only(throttle):
    # Given one IP failing once on each of four emails (its budget is three)
    for n in range(4):
        throttle.record_failure(f"user{n}@example.com", IP)
    # Then a new email from it waits, an email known there and the same email elsewhere do not
    assert _wait(throttle, "new@example.com") > 0
    assert _wait(throttle, "new@example.com", known_at_ip=True) == 0
    assert _wait(throttle, "new@example.com", OTHER_IP) == 0


def test_forget__clears_the_pair_and_a_quiet_window_forgets_the_rest(throttle, clock):
    # Given a pair and its IP past their budgets
    for _ in range(PAIR_RULE.free_failures + 1):
        throttle.record_failure(EMAIL, IP)
    # When the owner signs in (the pair is forgotten)
    throttle.forget(EMAIL, IP)
    # Then the pair is free, the IP still waits for new emails until a quiet window has passed
    assert _wait(throttle, known_at_ip=True) == 0
    assert _wait(throttle, "new@example.com") > 0
    clock.advance(WINDOW_SECONDS + 60)
    throttle.record_failure("new@example.com", IP)
    assert _wait(throttle, "other@example.com") == 0
