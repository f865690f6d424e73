"""The rate limiter's counts: the in-memory fake the unit tests use behaves as DynamoDB Local does."""
from __future__ import annotations

import pytest

from chalicelib.domain.ids import new_id
from chalicelib.store.rate_limit import DynamoWindowCounter, WindowCounter
from tests.fakes.window_counter import FakeWindowCounter

pytestmark = pytest.mark.integration


@pytest.fixture(params=["fake", "dynamodb_local"])
def counter(request: pytest.FixtureRequest) -> WindowCounter:
    if request.param == "fake":
        return FakeWindowCounter()
    request.getfixturevalue("stack_settings")
    return DynamoWindowCounter()


def test_add__counts_add_up_per_bucket_and_start_at_zero(counter):
    # Given two clients' buckets in one window
    mine, theirs = f"key:{new_id('c')}#1", f"key:{new_id('c')}#1"
    # When hits are added to them
    first = counter.add(mine, 1, 2_000_000_000.0)
    second = counter.add(mine, 3, 2_000_000_000.0)
    other = counter.add(theirs, 2, 2_000_000_000.0)
    # Then each bucket's count is the sum of its own hits
    assert (first, second, other) == (1, 4, 2)


def test_add__a_new_window_is_a_new_bucket(counter):
    client = new_id("c")
    counter.add(f"key:{client}#1", 5, 2_000_000_000.0)
    assert counter.add(f"key:{client}#2", 1, 2_000_000_010.0) == 1
