"""The ledger (immutable entries, one per balance change) and claims (uniqueness / exactly-once markers)."""
from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chalicelib.store.base import table


@table("ledger")
class LedgerEntry(Model):
    class Meta:
        table_name = "ledger"

    account_id = UnicodeAttribute(hash_key=True)
    # The order money moved in: entries commit in increasing seq (1, 2, 3… on accounts from before read-free
    # debits, then time-ordered numbers; services/wallet.py). The count is the account's ledger_seq.
    seq = NumberAttribute(range_key=True)
    entry_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    balance_after_cents = NumberAttribute(null=True)  # None until sealed: a read-free debit cannot know it
    kind = UnicodeAttribute()
    cause_id = UnicodeAttribute()
    memo = UnicodeAttribute(null=True)
    created_at = NumberAttribute()


@table("claims")
class Claim(Model):
    """A key that may be written once: email uniqueness, a ledger cause, an idempotency key, a lock."""

    class Meta:
        table_name = "claims"

    key = UnicodeAttribute(hash_key=True)
    value = UnicodeAttribute(null=True)
    created_at = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def claim_once(key: str, now: float, value: str | None = None, ttl_seconds: float | None = None) -> bool:
    """Write the claim unless it exists; True when this call wrote it, False when someone had."""
    expires = datetime.fromtimestamp(now + ttl_seconds, tz=UTC) if ttl_seconds is not None else None
    try:
        Claim(key, value=value, created_at=now, expires_at=expires).save(condition=Claim.key.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def claimed(key: str) -> bool:
    """Whether a claim was written (strongly consistent: a retry must see its own earlier write)."""
    try:
        Claim.get(key, consistent_read=True)
    except Claim.DoesNotExist:
        return False
    return True


def claimed_at(key: str) -> float | None:
    """When a claim was written (None: not written, or written without a time); strongly consistent."""
    try:
        made = Claim.get(key, consistent_read=True).created_at
    except Claim.DoesNotExist:
        return None
    return None if made is None else float(made)
