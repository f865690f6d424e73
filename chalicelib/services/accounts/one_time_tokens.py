"""Single-use emailed tokens (email verification, password reset): stored hashed, expiring, spent in a transaction.

A reset link also carries the account's reset generation: issuing a new link or using one bumps it, so only
the newest unused link of an account ever works (ASVS 6.4.1), and a password change kills them all."""
from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_id, new_secret, sha256_hex
from chalicelib.store.accounts import Account, OneTimeToken
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

    def issue_reset(self, account_id: str, ttl_seconds: int) -> str:
        """A password-reset token; every earlier reset token of the account stops working."""
        secret, row = self.new(account_id, TokenPurpose.RESET, ttl_seconds)
        row.generation = _next_reset_generation(account_id)
        row.save()
        return secret

    def issue_decoy_reset(self, ttl_seconds: int) -> None:
        """The writes of `issue_reset` for an account id nobody has (the update finds no account; the token row is
        never mailed and expires), so a reset asked for an address without an account costs what a real one does."""
        decoy = new_id("acc")
        with contextlib.suppress(UpdateError):
            _next_reset_generation(decoy)
        self.new(decoy, TokenPurpose.RESET, ttl_seconds)[1].save()

    def find_reset(self, secret: str, account_of: Callable[[str], Account]) -> tuple[OneTimeToken, Account]:
        """The live, newest reset token for this secret and its account; raises InvalidInput (TOKEN_INVALID:
        also when a newer link was issued or used since, TOKEN_EXPIRED)."""
        row = self.find(secret, TokenPurpose.RESET)
        account = account_of(row.account_id)
        if int(row.generation or 0) != int(account.reset_generation or 0):
            raise token_invalid()
        return row, account

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

    def may_mail(self, kind: str, recipient: str) -> bool:
        """At most one email of a kind a minute a recipient (an account id, or an address's hash when there is
        no account), so nobody can flood an inbox through us."""
        now = self.clock.now()
        slot = int(now // MAIL_INTERVAL_SECONDS)
        return claim_once(f"mail#{kind}#{recipient}#{slot}", now, ttl_seconds=2 * MAIL_INTERVAL_SECONDS)


def _next_reset_generation(account_id: str) -> int:
    account = Account(account_id)
    account.update(actions=[Account.reset_generation.add(1)], condition=Account.account_id.exists())
    return int(account.reset_generation)


def supersede_reset_links(account: Account) -> tuple[list[Action], Condition]:
    """The update and condition that make every reset link of `account` (as read) stale, inside a transaction
    that fails if a link was issued or used since the read."""
    generation = account.reset_generation
    unchanged = Account.reset_generation.does_not_exist() if generation is None else (
        Account.reset_generation == generation)
    return [Account.reset_generation.add(1)], unchanged
