"""Idempotency keys of paid requests (an order, a rent): a claim committed with the debit names what was made, so a
retry after a lost answer gets it back instead of paying twice; the same key for a different request is refused."""
from __future__ import annotations

import re
from collections.abc import Sequence

from chalicelib.domain.errors import InvalidInput
from chalicelib.store import claims
from chalicelib.store.base import JoinedWrite

_KEY = re.compile(r"[\x21-\x7e]{1,255}")
TTL_SECONDS = 24 * 3600


def check_key(key: str | None) -> None:
    if key is not None and not _KEY.fullmatch(key):
        raise InvalidInput("The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
                           details={"field": "Idempotency-Key"})


def claim_key(kind: str, account_id: str, key: str | None) -> str | None:
    return f"idem#{kind}#{account_id}#{key}" if key else None


def claiming(key: str | None, made_ids: Sequence[int], fingerprint: str, now: float) -> JoinedWrite:
    """The claim, for the debit's transaction, of the request that made `made_ids` (in order; several for a bulk
    order): a second claim of the key fails that transaction. Without a key, a write that adds nothing."""
    if not key:
        return _nothing
    return claims.claiming(key, f"{','.join(str(i) for i in made_ids)}|{fingerprint}", now, TTL_SECONDS)


def _nothing(tx: object) -> None:
    """The claim of a request sent without an idempotency key."""


def replayed_id(key: str | None, fingerprint: str, what: str) -> int | None:
    """The id the key made before, or None; InvalidInput when it was used for a different `what`."""
    made = replayed_ids(key, fingerprint, what)
    return None if made is None else made[0]


def replayed_ids(key: str | None, fingerprint: str, what: str) -> list[int] | None:
    """The ids the key made before, or None; InvalidInput when it was used for a different `what`."""
    if key is None:
        return None
    claimed = claims.value_of(key)  # an idempotency claim always holds a value
    if claimed is None:
        return None
    made_ids, _, used_for = claimed.partition("|")
    if used_for != fingerprint:
        raise InvalidInput(f"This Idempotency-Key was used for a different {what}.", code="IDEMPOTENCY_KEY_REUSED")
    return [int(i) for i in made_ids.split(",")]
