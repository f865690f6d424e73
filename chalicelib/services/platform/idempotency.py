"""Idempotency keys of paid requests (an order, a rent): a claim committed with the debit names what was made, so a
retry after a lost answer gets it back instead of paying twice; the same key for a different request is refused."""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import InvalidInput
from chalicelib.store.ledger import Claim

_KEY = re.compile(r"[\x21-\x7e]{1,255}")
TTL_SECONDS = 24 * 3600


def check_key(key: str | None) -> None:
    if key is not None and not _KEY.fullmatch(key):
        raise InvalidInput("The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
                           details={"field": "Idempotency-Key"})


def claim_key(kind: str, account_id: str, key: str | None) -> str | None:
    return f"idem#{kind}#{account_id}#{key}" if key else None


def save_claim(tx: TransactWrite, key: str | None, made_id: int, fingerprint: str, now: float) -> None:
    """Add the claim to the debit's transaction (nothing without a key); a second one for the key fails it."""
    save_claim_of_many(tx, key, [made_id], fingerprint, now)


def save_claim_of_many(tx: TransactWrite, key: str | None, made_ids: Sequence[int], fingerprint: str,
                       now: float) -> None:
    """The claim of a request that made several things at once (a bulk order), their ids in order."""
    if key:
        tx.save(Claim(key, value=f"{','.join(str(i) for i in made_ids)}|{fingerprint}", created_at=now,
                      expires_at=datetime.fromtimestamp(now + TTL_SECONDS, tz=UTC)),
                condition=Claim.key.does_not_exist())


def replayed_id(key: str | None, fingerprint: str, what: str) -> int | None:
    """The id the key made before, or None; InvalidInput when it was used for a different `what`."""
    made = replayed_ids(key, fingerprint, what)
    return None if made is None else made[0]


def replayed_ids(key: str | None, fingerprint: str, what: str) -> list[int] | None:
    """The ids the key made before, or None; InvalidInput when it was used for a different `what`."""
    if key is None:
        return None
    try:
        claim = Claim.get(key, consistent_read=True)
    except Claim.DoesNotExist:
        return None
    made_ids, _, used_for = (claim.value or "").partition("|")
    if used_for != fingerprint:
        raise InvalidInput(f"This Idempotency-Key was used for a different {what}.", code="IDEMPOTENCY_KEY_REUSED")
    return [int(i) for i in made_ids.split(",")]
