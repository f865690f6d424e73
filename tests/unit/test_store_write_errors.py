"""A conditional write whose condition failed is a refusal the service decides on (someone else moved the item);
any other failure of the write (access denied on a misconfigured stage, a throttled or unreachable table) is not,
and is raised as it is, so the caller neither reports a conflict nor skips work it did not do."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.domain.accounts import Account, AccountStatus, LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.services.money.wallet import Wallet
from chalicelib.store import account_repo, activation_repo, claims, rental_repo, token_repo, transaction
from chalicelib.store.base import WriteRefused, connection
from chalicelib.store.money import DynamoMoneyStore
from tests.unit.activation_support import Desk


@contextmanager
def dynamodb_answers(operation: str, code: str, *, reasons: tuple[str, ...] = (), times: int = 10**6
                     ) -> Iterator[None]:
    """The next `times` calls of `operation` on the process's client get DynamoDB's error `code` (with these
    cancellation reasons); not a code the SDK retries, so each is one call."""
    events = connection().client.meta.events
    left = [times]

    def answer(**_: Any) -> tuple[Any, dict[str, Any]] | None:
        if left[0] <= 0:
            return None  # sent as usual
        left[0] -= 1
        error: dict[str, Any] = {"Error": {"Code": code, "Message": "refused by test"}, "ResponseMetadata": {}}
        if reasons:
            error["CancellationReasons"] = [{"Code": reason, "Message": "test"} for reason in reasons]
        return SimpleNamespace(status_code=400, headers={}), error

    events.register(f"before-call.dynamodb.{operation}", answer, unique_id=f"answers-{operation}")
    try:
        yield
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", unique_id=f"answers-{operation}")


def update_item_answers(code: str) -> Any:
    return dynamodb_answers("UpdateItem", code)


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


def test_transaction__access_denied_is_raised_and_a_throttled_item_is_a_conflict_to_try_again(module_tables):
    # Given a transaction of one new claim
    key = f"test-claim#{new_id('k')}"
    # When the table denies it, then when DynamoDB cancels it for a throttled item
    with dynamodb_answers("TransactWriteItems", "AccessDeniedException"), pytest.raises(TransactWriteError) as denied:
        transaction.commit([claims.claiming(key, "x", 0.0)])
    with dynamodb_answers("TransactWriteItems", "TransactionCanceledException", reasons=("ThrottlingError",)), \
            pytest.raises(transaction.Refused) as throttled:
        transaction.commit([claims.claiming(key, "x", 0.0)])
    # Then the denial is the error it was, not a refusal; the throttled one a refusal worth trying again
    assert not isinstance(denied.value, transaction.Refused)
    assert throttled.value.conflict
    # And the same writes commit once the table takes them
    transaction.commit([claims.claiming(key, "x", 0.0)])


def test_wallet_post__a_transaction_throttled_once_commits_on_the_retry(module_tables):
    # Given an account credited 1000 on DynamoDB's store
    account_id = new_id("acc")
    transaction.commit([account_repo.creating(Account(account_id, email=f"{account_id}@example.com",
                                                      status=AccountStatus.ACTIVE, created_at=0.0))])
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    wallet.post(account_id, 1000, LedgerKind.TOP_UP, f"pi_{account_id}")
    # When a charge's transaction is cancelled once for a throttled item
    with dynamodb_answers("TransactWriteItems", "TransactionCanceledException", reasons=("ThrottlingError",),
                          times=1):
        wallet.post(account_id, -300, LedgerKind.ACTIVATION_CHARGE, f"act_{account_id}")
    # Then the wallet tried again and the charge is in the books once
    assert [e.amount_cents for e in wallet.entries(account_id)] == [-300, 1000]
