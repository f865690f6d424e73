"""Sign-in throttle counts: the in-memory fake behaves as DynamoDB Local does (store/throttle_repo.py)."""
from __future__ import annotations

import pytest

from chalicelib.domain.ids import new_id
from chalicelib.store.throttle_repo import DynamoThrottleStore, ThrottleStore
from tests.fakes.throttle_store import FakeThrottleStore

pytestmark = pytest.mark.integration
NOW = 1_900_000_000.0


@pytest.fixture(params=["fake", "dynamodb_local"])
def store(request: pytest.FixtureRequest) -> ThrottleStore:
    if request.param == "fake":
        return FakeThrottleStore()
    request.getfixturevalue("stack_settings")
    return DynamoThrottleStore()


def test_add_failure__counts_within_the_window_and_restarts_after_it(store):
    key = f"pair#{new_id('t')}"
    # Given two failures inside a window
    counts = [store.add_failure(key, NOW, NOW + 900), store.add_failure(key, NOW + 10, NOW + 910)]
    # When the next comes after the window ended
    after = store.add_failure(key, NOW + 2000, NOW + 2900)
    # Then it starts a new count
    assert (counts, after) == ([1, 2], 1)
    assert store.read(key).failures == 1


def test_block__is_read_back_and_forget_clears_it(store):
    key = f"ip#{new_id('t')}"
    store.add_failure(key, NOW, NOW + 900)
    store.block(key, NOW + 60, NOW + 900)
    blocked = store.read(key)
    store.forget(key)
    assert (blocked.failures, blocked.blocked_until, blocked.window_ends_at) == (1, NOW + 60, NOW + 900)
    assert store.read(key) is None


def test_read__an_unknown_key_is_none(store):
    assert store.read(f"device#{new_id('t')}") is None
