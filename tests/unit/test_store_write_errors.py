"""A conditional write whose condition failed is a refusal the service decides on (someone else moved the item);
any other failure of the write (access denied on a misconfigured stage, a throttled or unreachable table) is not,
and is raised as it is, so the caller neither reports a conflict nor skips work it did not do."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from pynamodb.exceptions import UpdateError

from chalicelib.store import activation_repo, rental_repo, token_repo
from chalicelib.store.base import WriteRefused, connection
from tests.unit.activation_support import Desk


@contextmanager
def update_item_answers(code: str) -> Iterator[None]:
    """Every UpdateItem of the process's client gets DynamoDB's error `code` (no retry: not a retryable code)."""
    events = connection().client.meta.events

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        return SimpleNamespace(status_code=400, headers={}), {"Error": {"Code": code, "Message": "refused by test"},
                                                              "ResponseMetadata": {}}

    events.register("before-call.dynamodb.UpdateItem", answer, unique_id="update-item-answers")
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb.UpdateItem", unique_id="update-item-answers")


def test_activation_change__a_stale_version_is_refused_and_access_denied_is_raised(desk: Desk):
    # Given an activation as ordered, then changed once by another writer
    activation = activation_repo.load(int(desk.order(desk.account()).activation_id))
    assert activation is not None
    activation_repo.change(activation, {"status_hook": None})
    # When the first reader changes it from its stale copy, then when the table denies the write
    with pytest.raises(WriteRefused):
        activation_repo.change(activation, {"status_hook": None})
    current = activation_repo.load(int(activation.activation_id))
    assert current is not None
    with update_item_answers("AccessDeniedException"), pytest.raises(UpdateError) as denied:
        activation_repo.change(current, {"status_hook": None})
    # Then the stale write is a refusal, and the denied one the error it was, not a refusal
    assert not isinstance(denied.value, WriteRefused)
    assert denied.value.cause_response_code == "AccessDeniedException"


def test_rental_claim_look__not_due_is_false_and_an_unreachable_table_is_raised(module_tables):
    # Given no open rental under this id (its condition cannot hold)
    # When a reader claims the look, then when the table is unreachable for updates
    claimed = rental_repo.claim_look(987_654_321, now=100.0, every_seconds=10)
    with update_item_answers("InternalServerError"), pytest.raises(UpdateError):
        rental_repo.claim_look(987_654_321, now=100.0, every_seconds=10)
    # Then the first is not this reader's to make, and the second is an error, not "someone else is looking"
    assert claimed is False


def test_token_count_attempt__over_the_limit_is_false_and_access_denied_is_raised(module_tables):
    # Given a token that does not exist (no count below the limit to add to)
    # When a wrong answer is counted, then when the table denies the write
    counted = token_repo.count_attempt("no-such-token-hash", below=5)
    with update_item_answers("AccessDeniedException"), pytest.raises(UpdateError):
        token_repo.count_attempt("no-such-token-hash", below=5)
    # Then the first is "no more attempts", and the denied write an error, not a spent attempt
    assert counted is False
