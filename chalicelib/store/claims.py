"""Claims outside the money (store/ledger.py `Claim`): an email's owner, an idempotency key's answer, a lock. A claim
is written once; its value says what holds it."""
from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.transactions import TransactWrite

from chalicelib.store.base import JoinedWrite
from chalicelib.store.ledger import Claim
from chalicelib.store.transaction import putting


def value_of(key: str) -> str | None:
    """The claim's value, strongly consistent (a retry must see its own earlier write); None when there is none
    (or it holds no value)."""
    try:
        return Claim.get(key, consistent_read=True).value
    except Claim.DoesNotExist:
        return None


def claiming(key: str, value: str | None, now: float, ttl_seconds: float | None = None) -> JoinedWrite:
    """The claim's Put inside a transaction, which fails when the key is taken."""
    expires = datetime.fromtimestamp(now + ttl_seconds, tz=UTC) if ttl_seconds is not None else None
    return putting(Claim(key, value=value, created_at=now, expires_at=expires), Claim.key.does_not_exist())


def releasing(key: str, held_by: str) -> JoinedWrite:
    """The claim's delete inside a transaction, which fails unless `held_by` holds it."""
    def write(tx: TransactWrite) -> None:
        tx.delete(Claim(key), condition=Claim.value == held_by)

    return write
