"""Operator settings that change at run time (maintenance, markup, price overrides) and the activity/audit logs."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chalicelib.store.base import JoinedWrite, table
from chalicelib.store.transaction import putting


@table("runtime")
class RuntimeSetting(Model):
    class Meta:
        table_name = "runtime"

    key = UnicodeAttribute(hash_key=True)
    value = UnicodeAttribute()  # JSON
    updated_at = NumberAttribute()


@table("activity")
class ActivityEntry(Model):
    """What an account did, with IP and time (agreement 11.1); expires by TTL."""

    class Meta:
        table_name = "activity"

    account_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)  # "<ms time>#<random>"
    kind = UnicodeAttribute()
    ip = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)  # JSON
    created_at = NumberAttribute()
    expires_at = TTLAttribute()


@table("audit")
class AuditEntry(Model):
    """What an admin did: who, when, what, why, before/after. Kept (no TTL)."""

    class Meta:
        table_name = "audit"

    subject = UnicodeAttribute(hash_key=True)  # account id or "system"
    sort_key = UnicodeAttribute(range_key=True)
    action = UnicodeAttribute()
    actor = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    before = UnicodeAttribute(null=True)  # JSON
    after = UnicodeAttribute(null=True)  # JSON
    created_at = NumberAttribute()


def read_setting(key: str) -> str | None:
    """The stored JSON of a setting, strongly consistent (a compare-and-set starts from it), or None."""
    try:
        return str(RuntimeSetting.get(key, consistent_read=True).value)
    except RuntimeSetting.DoesNotExist:
        return None


def replace_setting(key: str, value: str, expected: str | None, now: float) -> bool:
    """Write the setting only if it still holds `expected` (None: absent); False when another writer moved it."""
    condition = RuntimeSetting.key.does_not_exist() if expected is None else RuntimeSetting.value == expected
    try:
        RuntimeSetting(key, value=value, updated_at=now).save(condition=condition)
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False
    return True


def cached_setting(key: str) -> str | None:
    """The stored JSON of a setting, eventually consistent (for readers that cache it anyway), or None."""
    try:
        return str(RuntimeSetting.get(key).value)
    except RuntimeSetting.DoesNotExist:
        return None


def cached_settings(keys: tuple[str, ...]) -> dict[str, str]:
    """The stored JSON of each of `keys` that is set, eventually consistent: one Scan of a table that holds a handful
    of items. Not BatchGetItem: PynamoDB asks again at once, without limit, for keys a throttled table left
    unprocessed, where a throttled Scan is retried by the SDK with its backoff."""
    wanted = set(keys)
    return {str(row.key): str(row.value) for row in RuntimeSetting.scan() if row.key in wanted}


def write_setting(key: str, value: str, now: float) -> None:
    RuntimeSetting(key, value=value, updated_at=now).save()


def replacing_setting(key: str, value: str, expected: str | None, now: float) -> JoinedWrite:
    """`replace_setting` as a write of a transaction, which fails when another writer moved the setting."""
    condition = RuntimeSetting.key.does_not_exist() if expected is None else RuntimeSetting.value == expected
    return putting(RuntimeSetting(key, value=value, updated_at=now), condition)
