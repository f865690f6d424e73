"""Single-use emailed tokens (email verification, password reset): stored hashed, expiring, spent in a transaction.

A reset link also carries the account's reset generation: issuing a new link or using one bumps it, so only
the newest unused link of an account ever works (ASVS 6.4.1), and a password change kills them all."""
from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from dataclasses import replace

from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_id, new_secret, sha256_hex
from chalicelib.store import account_repo, token_repo, transaction
from chalicelib.store.base import JoinedWrite
from chalicelib.store.ledger import claim_once
from chalicelib.store.token_repo import OneTimeToken

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
        """A token and its (unsaved) value, for the caller to save, alone or inside its own transaction."""
        now = self.clock.now()
        secret = new_secret(24)  # 192 bits; short enough that the emailed link fits one 78-character line
        token = OneTimeToken(sha256_hex(secret), purpose=purpose.value, account_id=account_id, created_at=now,
                             expires_at=now + ttl_seconds)
        return secret, token

    def issue(self, account_id: str, purpose: TokenPurpose, ttl_seconds: int) -> str:
        secret, token = self.new(account_id, purpose, ttl_seconds)
        token_repo.save(token)
        return secret

    def issue_reset(self, account_id: str, ttl_seconds: int) -> str:
        """A password-reset token; every earlier reset token of the account stops working."""
        secret, token = self.new(account_id, TokenPurpose.RESET, ttl_seconds)
        token_repo.save(replace(token, generation=_next_reset_generation(account_id)))
        return secret

    def issue_decoy_reset(self, ttl_seconds: int) -> None:
        """The writes of `issue_reset` for an account id nobody has (the update finds no account; the token row is
        never mailed and expires), so a reset asked for an address without an account costs what a real one does."""
        decoy = new_id("acc")
        with contextlib.suppress(transaction.Refused):
            _next_reset_generation(decoy)
        token_repo.save(self.new(decoy, TokenPurpose.RESET, ttl_seconds)[1])

    def find_reset(self, secret: str, account_of: Callable[[str], Account]) -> tuple[OneTimeToken, Account]:
        """The live, newest reset token for this secret and its account; raises InvalidInput (TOKEN_INVALID:
        also when a newer link was issued or used since, TOKEN_EXPIRED)."""
        row = self.find(secret, TokenPurpose.RESET)
        account = account_of(row.account_id)
        if (row.generation or 0) != (account.reset_generation or 0):
            raise token_invalid()
        return row, account

    def find(self, secret: str, purpose: TokenPurpose) -> OneTimeToken:
        """The live token for this secret; raises InvalidInput (TOKEN_INVALID or TOKEN_EXPIRED)."""
        if not secret or len(secret) > MAX_TOKEN_LENGTH:
            raise token_invalid()
        row = token_repo.read(sha256_hex(secret))
        if row is None or row.purpose != purpose.value:
            raise token_invalid()
        if row.expires_at <= self.clock.now():
            raise InvalidInput("This link has expired. Ask for a new email.", code="TOKEN_EXPIRED",
                               details={"field": "token"})
        return row

    @staticmethod
    def spending(row: OneTimeToken) -> JoinedWrite:
        """The token's delete in the caller's transaction; a second use fails the transaction's condition."""
        return token_repo.spending(row.token_hash)

    def may_mail(self, kind: str, recipient: str) -> bool:
        """At most one email of a kind a minute a recipient (an account id, or an address's hash when there is
        no account), so nobody can flood an inbox through us."""
        now = self.clock.now()
        slot = int(now // MAIL_INTERVAL_SECONDS)
        return claim_once(f"mail#{kind}#{recipient}#{slot}", now, ttl_seconds=2 * MAIL_INTERVAL_SECONDS)


def _next_reset_generation(account_id: str) -> int:
    """Raises store.transaction.Refused when there is no such account."""
    return account_repo.change(account_id, add={"reset_generation": 1}, when=account_repo.EXISTS).reset_generation or 0


def supersede_reset_links(account: Account) -> tuple[dict[str, int], dict[str, object]]:
    """What to add and what to expect (account_repo.change's `add` and `when`) so that every reset link of
    `account` (as read) goes stale, and the write fails if a link was issued or used since the read."""
    return {"reset_generation": 1}, {"reset_generation": account.reset_generation}
