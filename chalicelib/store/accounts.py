"""Accounts, credentials (sessions, API keys), one-time tokens (verify, reset) and sign-in throttles."""
from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.base import table


@table("accounts")
class Account(Model):
    class Meta:
        table_name = "accounts"

    account_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    password_hash = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # domain.accounts.AccountStatus value
    balance_cents = NumberAttribute(default=0)
    held_cents = NumberAttribute(default=0)  # pending refund requests: not spendable
    version = NumberAttribute(default=0)  # bumped by every money change; the compare-and-set guard
    ledger_seq = NumberAttribute(default=0)  # number of ledger entries; entry n has seq n
    agreement_version = UnicodeAttribute(null=True)
    agreement_accepted_at = NumberAttribute(null=True)
    agreement_accepted_ip = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    created_ip = UnicodeAttribute(null=True)
    stripe_customer_id = UnicodeAttribute(null=True)
    webhook_url = UnicodeAttribute(null=True)
    webhook_secret = UnicodeAttribute(null=True)
    status_reason = UnicodeAttribute(null=True)
    is_admin_created = BooleanAttribute(default=False)
    # Credentials created at or before these times are refused (sign out everywhere, lock, reset), even
    # ones a GSI query has not shown yet: the by_account index is only eventually consistent.
    sessions_valid_after = NumberAttribute(null=True)
    keys_valid_after = NumberAttribute(null=True)


class CredentialsByAccount(GlobalSecondaryIndex["Credential"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


@table("credentials")
class Credential(Model):
    """A session token or an API key, stored by the SHA-256 of its value only."""

    class Meta:
        table_name = "credentials"

    token_hash = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # "session" | "api_key"
    key_id = UnicodeAttribute()  # public id for listing / revoking without the secret
    label = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    last_used_at = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    by_account = CredentialsByAccount()


@table("tokens")
class OneTimeToken(Model):
    """Email-verification and password-reset tokens: single use, expiring, stored hashed."""

    class Meta:
        table_name = "tokens"

    token_hash = UnicodeAttribute(hash_key=True)
    purpose = UnicodeAttribute()  # "verify" | "reset"
    account_id = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = TTLAttribute()


@table("login_throttle")
class LoginThrottle(Model):
    """Failed sign-ins of one email or one IP in a sliding window, and until when further tries are refused."""

    class Meta:
        table_name = "login_throttle"

    key = UnicodeAttribute(hash_key=True)  # "email#<sha256 of the normalised email>" | "ip#<address>"
    failures = NumberAttribute(default=0)
    window_ends_at = NumberAttribute()  # the count restarts after this long without a failure
    blocked_until = NumberAttribute(default=0)
    expires_at = TTLAttribute()
