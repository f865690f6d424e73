"""Emailed one-time tokens and sign-in challenges (store/accounts.py `OneTimeToken`) as values, stored hashed."""
from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.store import accounts as rows
from chalicelib.store import values
from chalicelib.store.base import JoinedWrite
from chalicelib.store.transaction import putting, refused_if_condition_failed
from chalicelib.store.values import row_of


@dataclass(frozen=True)
class OneTimeToken:
    token_hash: str
    purpose: str  # "verify" | "reset" | "mfa" (a sign-in waiting for its second factor)
    account_id: str
    created_at: float
    expires_at: float
    generation: int | None = None  # a reset token's Account.reset_generation when it was issued
    attempts: int | None = None  # a sign-in challenge's wrong codes


def read(token_hash: str) -> OneTimeToken | None:
    """The token, strongly consistent (it may have been spent a moment ago), or None."""
    return values.read(OneTimeToken, rows.OneTimeToken, token_hash)


def save(token: OneTimeToken) -> None:
    row_of(rows.OneTimeToken, token).save()


def saving(token: OneTimeToken) -> JoinedWrite:
    return putting(row_of(rows.OneTimeToken, token))


def spending(token_hash: str) -> JoinedWrite:
    """The token's delete inside a transaction: a second use fails it (the token must still exist)."""
    def write(tx: TransactWrite) -> None:
        tx.delete(rows.OneTimeToken(token_hash), condition=rows.OneTimeToken.token_hash.exists())

    return write


def spend(token_hash: str) -> None:
    """Delete the token; raises store.transaction.Refused when it was spent (deleted) already."""
    try:
        rows.OneTimeToken(token_hash).delete(condition=rows.OneTimeToken.token_hash.exists())
    except DeleteError as exc:
        raise refused_if_condition_failed(exc) from None


def count_attempt(token_hash: str, below: int) -> bool:
    """Count a wrong answer while the token has fewer than `below` of them; False (nothing written) otherwise."""
    try:
        rows.OneTimeToken(token_hash).update(actions=[rows.OneTimeToken.attempts.add(1)],
                                             condition=rows.OneTimeToken.attempts < below)
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def delete(token_hash: str) -> None:
    rows.OneTimeToken(token_hash).delete()
