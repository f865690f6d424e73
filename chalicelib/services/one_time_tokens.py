"""Single-use emailed tokens (email verification, password reset): stored hashed, expiring, spent in a transaction."""
from __future__ import annotations

import enum
from datetime import UTC, datetime

from pynamodb.transactions import TransactWrite

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_secret, sha256_hex
from chalicelib.store.accounts import OneTimeToken
from chalicelib.store.ledger import claim_once

MAX_TOKEN_LENGTH = 200
MAIL_INTERVAL_SECONDS = 60


class TokenPurpose(str, enum.Enum):
    VERIFY = "verify"
    RESET = "reset"


def token_invalid() -> InvalidInput:
    return InvalidInput("This link is not valid or was already used. Ask for a new email.", code="TOKEN_INVALID",
                        details={"field": "token"})


class OneTimeTokens:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def new(self, account_id: str, purpose: TokenPurpose, ttl_seconds: int) -> tuple[str, OneTimeToken]:
        """A token and its (unsaved) row, for the caller to save, alone or inside its own transaction."""
        now = self.clock.now()
        secret = new_secret(24)  # 192 bits; short enough that the emailed link fits one 78-character line
        row = OneTimeToken(sha256_hex(secret), purpose=purpose.value, account_id=account_id, created_at=now,
                           expires_at=datetime.fromtimestamp(now + ttl_seconds, tz=UTC))
        return secret, row

    def issue(self, account_id: str, purpose: TokenPurpose, ttl_seconds: int) -> str:
        secret, row = self.new(account_id, purpose, ttl_seconds)
        row.save()
        return secret

    def find(self, secret: str, purpose: TokenPurpose) -> OneTimeToken:
        """The live token for this secret; raises InvalidInput (TOKEN_INVALID or TOKEN_EXPIRED)."""
        if not secret or len(secret) > MAX_TOKEN_LENGTH:
            raise token_invalid()
        try:
            row = OneTimeToken.get(sha256_hex(secret), consistent_read=True)
        except OneTimeToken.DoesNotExist:
            raise token_invalid() from None
        if row.purpose != purpose.value:
            raise token_invalid()
        if row.expires_at.timestamp() <= self.clock.now():
            raise InvalidInput("This link has expired. Ask for a new email.", code="TOKEN_EXPIRED",
                               details={"field": "token"})
        return row

    @staticmethod
    def spend(tx: TransactWrite, row: OneTimeToken) -> None:
        """Delete the token in the caller's transaction; a second use fails the transaction's condition."""
        tx.delete(row, condition=OneTimeToken.token_hash.exists())

    def may_mail(self, purpose: TokenPurpose, account_id: str) -> bool:
        """At most one email of a purpose a minute an account, so nobody can flood an inbox through us."""
        now = self.clock.now()
        slot = int(now // MAIL_INTERVAL_SECONDS)
        return claim_once(f"mail#{purpose.value}#{account_id}#{slot}", now, ttl_seconds=2 * MAIL_INTERVAL_SECONDS)
