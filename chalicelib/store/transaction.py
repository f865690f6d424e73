"""Writes that commit together outside the money (a registration's account and email claim, a ticket and its first
message): repositories hand out `JoinedWrite`s, `commit` runs them as one DynamoDB transaction, and a refusal comes
back as `Refused` naming why each item failed, so no PynamoDB error reaches a service.

Money never commits here: the Wallet opens its own transaction, which such writes may join (`extra=`).
"""
from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import CancellationReason, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.store.base import JoinedWrite, WriteRefused, connection

CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
THROTTLED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Errors that say "not now" rather than "not this" (the SDK has retried them already): a caller may try again soon.
UNAVAILABLE = THROTTLED | {"InternalServerError", "ServiceUnavailable", "TransactionInProgressException"}
CANCELED = "TransactionCanceledException"  # the one error that is a refusal; its reasons say why, item by item
# Reasons after which the same writes may commit when tried again: another transaction held an item, or the table
# was throttled past the SDK's own retries.
RETRYABLE = frozenset({CONFLICT, "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


class Refused(WriteRefused):
    """A conditional write or a transaction did not commit. `codes`: the cancellation reason of each item of a
    transaction in order (None: that item was fine), or (CONDITION_FAILED,) for a single write's condition."""

    def __init__(self, codes: tuple[str | None, ...] = (CONDITION_FAILED,)) -> None:
        super().__init__("the write was refused: " + ", ".join(c or "-" for c in codes))
        self.codes = codes

    @property
    def conflict(self) -> bool:
        """Another transaction held an item, or the table was throttled: the same writes may succeed when tried
        again."""
        return any(code in RETRYABLE for code in self.codes)


def commit(writes: Iterable[JoinedWrite | None]) -> None:
    """Run the writes (None: nothing to add) as one transaction; raises Refused when it is cancelled, and any other
    failure as it is (`cancellation_reasons`)."""
    try:
        with TransactWrite(connection=connection()) as tx:
            for write in writes:
                if write is not None:
                    write(tx)
    except TransactWriteError as exc:
        raise Refused(tuple(r.code if r else None for r in cancellation_reasons(exc))) from None


def cancellation_reasons(exc: TransactWriteError) -> list[CancellationReason | None]:
    """Why each item of a cancelled transaction failed (None: that item was fine). Any other failure (access denied,
    a table unreachable) is raised as it is: it is no refusal."""
    if exc.cause_response_code != CANCELED:
        raise exc
    return list(exc.cancellation_reasons or [])


def unavailable(error: BaseException) -> bool:
    """Whether `error` is a table's outage: throttled past the SDK's retries, unreachable, timed out."""
    from botocore.exceptions import ClientError, HTTPClientError

    cause = getattr(error, "cause", None) or error  # PynamoDB wraps botocore's error as `cause`
    if isinstance(cause, HTTPClientError):  # unreachable, timed out, connection closed
        return True
    return isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in UNAVAILABLE


def refused_if_condition_failed(exc: PynamoDBException) -> Refused:
    """The Refused of a single write whose condition failed; any other error is raised as it is."""
    if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
        raise exc
    return Refused()


def putting(row: Model, condition: Condition | None = None) -> JoinedWrite:
    """The row's Put as a write of a transaction (refused, failing the transaction, when `condition` does not hold)."""
    def write(tx: TransactWrite) -> None:
        tx.save(row, condition=condition)

    return write
