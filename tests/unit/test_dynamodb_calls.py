"""DynamoDB calls per order and per lifecycle step, counted on the process's one client: each fails above its budget.

The goals of issue 16: an order over HTTP (rate limit, authentication and the order) in at most 4 calls; a
lifecycle (order, a status check that asks the partner, the SMS picked up by a poll, finish) in about 7, a poll
cycle's queries (one per shard) shared by every SMS it picks up.
Counts are of a warm container (its short caches filled by an earlier request), as every request but a
container's first finds it; the caches are made long here so the count cannot depend on the test's speed.
"""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from app import app
from chalicelib import wiring
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.activations import catalog, delivery_memory
from chalicelib.services.platform import runtime_settings
from chalicelib.store.accounts import Account
from tests.unit.activation_support import CODE_SMS, Desk
from tests.unit.dynamo_calls import count_dynamodb_calls

HTTP_ORDER_BUDGET = 4
# The poll's own queries are the cycle's, shared by every SMS it picks up: counted apart, below.
STEP_BUDGETS = {"order": 3, "status check asking the partner": 1, "SMS picked up by a poll": 2, "finish": 1}


@pytest.fixture
def warm(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Desk:
    """The desk's facade behind the REST routes, in a container whose caches stay warm for the whole test."""
    monkeypatch.setattr(wiring, "activations", lambda: desk.service)
    monkeypatch.setattr(runtime_settings, "_CACHE_SECONDS", 3600.0)
    monkeypatch.setattr(catalog, "_LISTING_CACHE_SECONDS", 3600.0)
    for name in ("RATES_CACHE_SECONDS", "MARKS_CACHE_SECONDS"):
        monkeypatch.setattr(delivery_memory, name, 3600.0)
    return desk


def _order(client: Client, api_key: str) -> int:
    reply = client.http.post("/v1/activations", body=json.dumps({"service": "tg", "country": 0}),
                             headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    return int(reply.status_code)


def test_http_order__at_most_four_dynamodb_calls_with_rate_limit_and_authentication(warm: Desk):
    # Given a funded account's API key, used once already in this container, with the rate limit on
    user = warm.account(10_000)
    api_key = Credentials(warm.clock, 3600).create_api_key(user.account_id, "bot").api_key
    assert wiring.rate_limiter().limit is not None
    with Client(app) as client:
        assert _order(client, api_key) == 201
        # When it orders three more numbers
        counted = []
        for _ in range(3):
            with count_dynamodb_calls() as calls:
                assert _order(client, api_key) == 201
            counted.append(calls)
    # Then each order took one transaction and no more than the budget in all
    assert [c.by_operation()["TransactWriteItems"] for c in counted] == [1, 1, 1]
    assert max(len(c) for c in counted) <= HTTP_ORDER_BUDGET, [c.operations for c in counted]


def test_http_order__reads_every_operator_switch_in_one_call_when_the_cache_lapses(warm: Desk):
    # Given a funded account's API key, used once already in this container
    user = warm.account(10_000)
    api_key = Credentials(warm.clock, 3600).create_api_key(user.account_id, "bot").api_key
    with Client(app) as client:
        assert _order(client, api_key) == 201
        # When the container's copy of the operator switches lapses (as in a cold container) and it orders again:
        # the maintenance gate, the markup and the price overrides each need theirs
        runtime_settings.clear_cache()
        with count_dynamodb_calls() as calls:
            assert _order(client, api_key) == 201
    # Then every switch came in one read of their table, none by a GetItem of its own
    assert calls.on("runtime") == ["Scan"]
    assert len(calls) <= HTTP_ORDER_BUDGET + 1, calls.operations


def test_lifecycle__each_step_within_its_dynamodb_call_budget(warm: Desk):
    # Given a funded account that ordered once in this container
    user = warm.account(10_000)
    warm.order(user)
    steps = {}
    # When it orders (from its account as authentication reads it), checks the status after the refresh
    # interval, gets its SMS through the poller, and finishes
    with count_dynamodb_calls() as steps["order"]:
        activation = warm.order(Account.get(user.account_id, consistent_read=True))
    warm.clock.advance(warm.settings.status_refresh_min_seconds)
    with count_dynamodb_calls() as steps["status check asking the partner"]:
        checked = warm.service.get(user.account_id, int(activation.activation_id))
    warm.deliver(activation, CODE_SMS)
    with count_dynamodb_calls() as steps["SMS picked up by a poll"]:
        warm.service.poll_partners()
    with count_dynamodb_calls() as steps["finish"]:
        finished = warm.service.finish(user.account_id, int(activation.activation_id))
    # Then each step did its work within its budget
    assert (checked.status, finished.status) == ("WAITING", "FINISHED")
    assert warm.partner.calls["get_state"] == 1
    item_calls = {name: [op for op in calls.operations if op != "Query"] for name, calls in steps.items()}
    over = {name: ops for name, ops in item_calls.items() if len(ops) > STEP_BUDGETS[name]}
    assert over == {}
    # And the poll cycle read the partner's active activations with one query per shard (and one for the key
    # activations had before it was sharded), whatever the number of activations
    assert steps["SMS picked up by a poll"].by_operation()["Query"] == warm.settings.write_shards + 1


HTTP_REACTIVATION_BUDGET = 5


def test_http_reactivation__one_transaction_and_at_most_five_dynamodb_calls(warm: Desk):
    # Given a funded account's API key, used once already in this container, and a number of it that got its code
    user = warm.account(10_000)
    api_key = Credentials(warm.clock, 3600).create_api_key(user.account_id, "bot").api_key
    parent = warm.order(user)
    warm.received(user, parent)
    warm.service.finish(user.account_id, int(parent.activation_id))
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    path = f"/v1/activations/{int(parent.activation_id)}/reactivate"
    with Client(app) as client:
        assert _order(client, api_key) == 201
        # When it asks for another code on the number
        with count_dynamodb_calls() as calls:
            reply = client.http.post(path, body="{}", headers=headers)
    # Then one transaction debited it, within the budget: the credential, the account, the parent (one more read
    # than an order), the debit, the number issued
    assert reply.status_code == 201, reply.body
    assert calls.by_operation()["TransactWriteItems"] == 1
    assert len(calls) <= HTTP_REACTIVATION_BUDGET, calls.operations
