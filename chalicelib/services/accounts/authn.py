"""Who is calling: a bearer session token or API key → the account, refusing what may not act."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.accounts import Account, AccountStatus
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import (
    AccountBlocked,
    AccountInactive,
    DomainError,
    Forbidden,
    ScopeMissing,
    Unauthenticated,
)
from chalicelib.domain.ids import sha256_hex
from chalicelib.domain.scopes import ALL_SCOPES, Need, Scope, stored_scopes
from chalicelib.store import account_repo, credential_repo
from chalicelib.store.credential_repo import Credential

if TYPE_CHECKING:
    from chalicelib.services.platform.rate_limit import RateLimiter

_TOUCH_EVERY_SECONDS = 60


def refusal(status: str) -> AccountBlocked | AccountInactive | None:
    """Why an account in `status` may not act (sign-in, credentials, password reset); None when it may.

    A fresh exception each time: a shared instance raised again keeps every earlier traceback alive.
    """
    if status == AccountStatus.BLOCKED:
        return AccountBlocked("This account is blocked.")
    if status == AccountStatus.LOCKED:
        return AccountInactive("This account is locked after a report of unauthorized access. "
                               "Reset your password through the link we emailed you to unlock it.",
                               code="ACCOUNT_LOCKED")
    if status == AccountStatus.DEACTIVATED:
        return AccountInactive("This account was deactivated.")
    return None


@dataclass(frozen=True)
class Principal:
    account: Account
    credential_kind: str  # "session" | "api_key"
    token_hash: str
    scopes: frozenset[Scope] = ALL_SCOPES  # a session has every scope; a key those it was made with

    def require(self, need: Need) -> Principal:
        """This caller, when it may do what `need` asks (domain/scopes.py); raises Forbidden (SESSION_REQUIRED) or
        ScopeMissing (SCOPE_REQUIRED) naming what is missing."""
        if self.credential_kind == "session" or need in (Need.PUBLIC, Need.ANY_KEY):
            return self
        if need is Need.SESSION:
            raise Forbidden("This needs a signed-in session, not an API key.", code="SESSION_REQUIRED")
        if not need.allows_key(self.scopes):
            held = ", ".join(sorted(self.scopes))
            raise ScopeMissing(f"This API key may not do this: it needs the {need.label} scope, and the key has "
                               f"{held}. Sign in, or use a key made with that scope.",
                               details={"needs": sorted(need.scopes), "has": sorted(self.scopes)})
        return self


def authenticate(secret: str | None, clock: Clock, *, ip: str | None = None,
                 request_id: str | None = None) -> Principal:
    """The account behind a session token or API key; raises Unauthenticated, AccountBlocked, AccountInactive.

    A request after a new agreement version took effect is the account's acceptance of it (13.3): recorded with the
    request's id and IP by the credential's once-a-minute last-use write, which it joins (no call of its own)."""
    if not secret:
        raise Unauthenticated("Sign in, or send an API key as 'Authorization: Bearer <key>'.")
    token_hash = sha256_hex(secret)
    credential = credential_repo.read(token_hash, consistent=False)
    if credential is None:
        raise Unauthenticated("The token or API key is not valid.")
    now = clock.now()
    expired = _expired(credential, now)
    if expired is not None:
        raise expired  # before the account's read, which it saves
    # Strongly consistent: this read is also the one an order's debit starts from (Wallet.post's `known`).
    account = account_repo.read(credential.account_id)
    if account is None:
        raise Unauthenticated("The token or API key is not valid.")
    refused = credential_refusal(credential, account, now)
    if refused is not None:
        raise refused
    _touch(credential, account, now, ip, request_id)
    scopes = ALL_SCOPES if credential.kind == "session" else stored_scopes(credential.scopes)
    return Principal(account=account, credential_kind=credential.kind, token_hash=token_hash, scopes=scopes)


class CutOffs(Protocol):
    """An account's moments before which its sessions, and its API keys, no longer count."""

    @property
    def sessions_valid_after(self) -> float | None: ...

    @property
    def keys_valid_after(self) -> float | None: ...


class Standing(CutOffs, Protocol):
    """What decides whether an account's credential still signs in: its status and its cut-offs."""

    @property
    def status(self) -> str: ...


def _expired(credential: Credential, now: float) -> Unauthenticated | None:
    if credential.expires_at is not None and credential.expires_at <= now:
        return Unauthenticated("The session has expired. Please sign in again.")
    return None


def credential_refusal(credential: Credential, account: Standing, now: float) -> DomainError | None:
    """Why `credential` of `account` no longer signs in at `now` (expired, the account refused, revoked by "sign out
    everywhere" or "revoke every key"); None when it does. Requests and live-update pushes ask the same."""
    refused = _expired(credential, now) or refusal(account.status)
    if refused is not None:
        return refused
    if revoked_by_account(account, credential.kind, credential.created_at):
        return Unauthenticated("This session or API key was revoked. Please sign in again.")
    return None


def revoked_by_account(account: CutOffs, kind: str, created_at: float) -> bool:
    """Whether the account's "sign out everywhere" (sessions) or "revoke every key" (keys) ended a credential of
    `kind` made at `created_at`."""
    cutoff = account.sessions_valid_after if kind == "session" else account.keys_valid_after
    return cutoff is not None and created_at <= cutoff


def _touch(credential: Credential, account: Account, now: float, ip: str | None, request_id: str | None) -> None:
    """Record last use for the key list, at most one write a minute a credential so it stays cheap."""
    if credential.last_used_at is not None and now - credential.last_used_at < _TOUCH_EVERY_SECONDS:
        return
    from chalicelib.services.accounts import agreement_acceptance

    if agreement_acceptance.accept_by_use(credential, account, now, ip, request_id):
        return
    credential_repo.touch(credential.token_hash, now)  # revoked a moment ago: nothing recorded, the next is refused


def authenticate_from(secret: str | None, ip: str | None, clock: Clock, failed: RateLimiter, *,
                      request_id: str | None = None) -> Principal:
    """`authenticate`, where each unknown credential also spends the caller's IP guessing budget in `failed` (429
    past it)."""
    try:
        return authenticate(secret, clock, ip=ip, request_id=request_id)
    except Unauthenticated:
        if secret:
            from chalicelib.services.platform.rate_limit import admit_failed_credential

            admit_failed_credential(failed, ip)
        raise
