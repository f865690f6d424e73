"""Accounts, their credentials (sessions, API keys) and one-time tokens (email verification, password reset)."""
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
