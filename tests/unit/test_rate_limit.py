"""Rate limits: a budget per API key (or IP without one) shared by every container, 429 + Retry-After past it."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client
from pynamodb.exceptions import UpdateError

from app import app
from chalicelib import wiring
from chalicelib.domain.errors import RateLimited
from chalicelib.services.platform.rate_limit import Limit, RateLimiter, client_identity
from chalicelib.store.rate_limit import RateWindow
from tests.clock import FixedClock
from tests.fakes.window_counter import FakeWindowCounter

START = 1_800_000_000.0  # a window boundary for 10-second windows


@pytest.fixture
def clock(moto_tables) -> FixedClock:
    """The start of a window, over empty tables."""
    return FixedClock(START)


@pytest.fixture
def at_start() -> FixedClock:
    """The start of a window (the counts in memory: tests/fakes/window_counter.py)."""
    return FixedClock(START)


@pytest.fixture
def counts() -> FakeWindowCounter:
    """The counts every container shares, in memory."""
    return FakeWindowCounter()


def _admitted(limiter: RateLimiter, identity: str, times: int) -> int:
    admitted = 0
    for _ in range(times):
        try:
            limiter.admit(identity)
            admitted += 1
        except RateLimited:
            pass
    return admitted


def test_limit_of__defaults_allow_bursts_of_100_and_20_a_second_sustained():
    assert Limit.of(per_second=20, burst=100) == Limit(requests=100, window_seconds=5)
    assert Limit.of(per_second=0, burst=100) is None


def test_admit__past_the_burst_is_refused_with_the_seconds_left_in_the_window(at_start, counts):
    # Given 3 requests per 10 s
    clock = at_start
    limiter = RateLimiter(Limit(3, 10), clock, counts)
    # When a client makes 5 requests 4 s into the window
    clock.advance(4)
    admitted = _admitted(limiter, "key:a", 3)
    with pytest.raises(RateLimited) as refused:
        limiter.admit("key:a")
    # Then 3 pass and the next is told to come back when the window ends
    assert admitted == 3
    assert refused.value.retry_after_seconds == 6


def test_admit__one_client_over_its_limit_does_not_slow_another(at_start, counts):
    limiter = RateLimiter(Limit(3, 10), at_start, counts)
    _admitted(limiter, "key:greedy", 10)
    assert _admitted(limiter, "key:polite", 3) == 3


def test_admit__the_next_window_starts_a_fresh_budget(at_start, counts):
    clock = at_start
    limiter = RateLimiter(Limit(3, 10), clock, counts)
    _admitted(limiter, "key:a", 5)
    clock.advance(10)
    assert _admitted(limiter, "key:a", 3) == 3


def test_admit__containers_share_one_count(at_start, counts):
    # Given two Lambda containers with their own limiter
    first, second = RateLimiter(Limit(3, 10), at_start, counts), RateLimiter(Limit(3, 10), at_start, counts)
    # When a client spreads 4 requests over both
    admitted = _admitted(first, "key:a", 2) + _admitted(second, "key:a", 2)
    # Then only the budget passed
    assert admitted == 3


def test_admit__refused_requests_cost_no_more_writes_in_that_container(clock):
    # Given a client already over its limit
    limiter = RateLimiter(Limit(3, 10), clock)
    _admitted(limiter, "key:a", 4)
    # When it keeps trying
    _admitted(limiter, "key:a", 20)
    # Then the counter stopped at the first refusal
    assert RateWindow.get(f"key:a#{int(START // 10)}").hits == 4


def test_admit__limiter_storage_failure_lets_the_request_through(clock, monkeypatch):
    # Given DynamoDB failing for the limiter
    def broken(self, *args, **kwargs):
        raise UpdateError("UpdateItem failed: connection reset")

    monkeypatch.setattr(RateWindow, "update", broken)
    # When requests come, Then they are served rather than refused
    assert _admitted(RateLimiter(Limit(1, 10), clock), "key:a", 3) == 3


def test_client_identity__a_credential_has_its_own_budget_apart_from_its_ip():
    with_key = client_identity("secret-key", "198.51.100.1")
    assert with_key.startswith("key:") and "secret-key" not in with_key
    assert client_identity(None, "198.51.100.1") == "ip:198.51.100.1"
    assert client_identity("other-key", "198.51.100.1") != with_key


def test_middleware__v1_route_past_the_limit_answers_429_with_retry_after(clock, monkeypatch):
    # Given a limit of 2 requests per 10 s
    limiter = RateLimiter(Limit(2, 10), clock)
    monkeypatch.setattr(wiring, "rate_limiter", lambda: limiter)
    with Client(app) as client:
        # When an anonymous client reads the agreement 3 times
        answers = [client.http.get("/v1/agreement") for _ in range(3)]
        # Then the third is the 429 envelope with Retry-After
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert json.loads(answers[2].body)["error"]["code"] == "RATE_LIMITED"
        assert answers[2].headers["Retry-After"] == "10"
        # And health checks and Stripe's webhooks are never limited
        assert client.http.get("/health").status_code == 200
        webhook = client.http.post("/v1/webhooks/stripe", headers={"Content-Type": "application/json"}, body=b"{}")
        assert webhook.status_code != 429
