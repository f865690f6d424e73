"""Sessions and API keys: issued once, stored as SHA-256 only, listed by key id, revoked singly or all at once."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ids import new_id, new_secret, sha256_hex
from chalicelib.domain.scopes import DEFAULT_SCOPES, Scope
from chalicelib.store import account_repo, credential_repo, transaction
from chalicelib.store.credential_repo import Credential

SESSION = "session"
API_KEY = "api_key"
API_KEY_PREFIX = "smsr_"  # recognisable in leaks and by secret scanners; 256 random bits follow
MAX_API_KEYS = 20


@dataclass(frozen=True)
class IssuedSession:
    token: str
    key_id: str
    expires_at: float
    device_token: str | None = None  # a sign-in's: what the browser sends at its next sign-in (known_clients)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: str
    key_id: str
    label: str | None
    created_at: float
    scopes: frozenset[Scope]


class Credentials:
    def __init__(self, clock: Clock, session_ttl_seconds: int) -> None:
        self.clock = clock
        self.session_ttl_seconds = session_ttl_seconds

    def issue_session(self, account_id: str, ip: str | None = None, device: str | None = None) -> IssuedSession:
        """A new session for the client at `ip` using `device` (both shown in the owner's sessions list)."""
        return self._issue_session(account_id, ip, device, self.clock.now())

    def restart_sessions(self, account_id: str, ip: str, device: str, *, api_keys_too: bool) -> IssuedSession:
        """Every session ends (and every API key, when asked) and one new session starts for this client: the
        only one past the cut-off, being dated a millisecond after it."""
        self.sign_out_everywhere(account_id, api_keys_too=api_keys_too)
        return self._issue_session(account_id, ip, device, self.clock.now() + 0.001)

    def sign_out_everywhere(self, account_id: str, *, api_keys_too: bool) -> None:
        """Every session ends, and every API key too when asked (a password reset or change)."""
        if api_keys_too:
            self.revoke_all(account_id)
        else:
            self.revoke_sessions(account_id)

    def _issue_session(self, account_id: str, ip: str | None, device: str | None, now: float) -> IssuedSession:
        token, key_id, expires_at = new_secret(32), new_id("ses"), now + self.session_ttl_seconds
        credential_repo.save(Credential(sha256_hex(token), account_id=account_id, kind=SESSION, key_id=key_id,
                                        created_at=now, expires_at=expires_at, ip=ip, device=device or None))
        return IssuedSession(token=token, key_id=key_id, expires_at=expires_at)

    def list_sessions(self, account: Account) -> list[Credential]:
        """The account's live sessions, newest first (expired and signed-out-everywhere ones left out)."""
        now, cutoff = self.clock.now(), account.sessions_valid_after
        found = credential_repo.of_account(account.account_id, SESSION, newest_first=True)
        return [c for c in found if (c.expires_at is None or c.expires_at > now)
                and (cutoff is None or c.created_at > cutoff)]

    def find(self, token_hash: str) -> Credential | None:
        return credential_repo.read(token_hash, consistent=True)

    def revoke_session(self, account: Account, session_id: str) -> None:
        """Sign one session out; raises NotFound unless the account has a live session with this id."""
        _delete_one(self.list_sessions(account), session_id,
                    NotFound("There is no session with this id on your account.", code="SESSION_NOT_FOUND"))

    def create_api_key(self, account_id: str, label: str | None,
                       scopes: frozenset[Scope] = DEFAULT_SCOPES) -> IssuedApiKey:
        """A new key with these scopes, shown once; raises Conflict (TOO_MANY_API_KEYS) past MAX_API_KEYS."""
        if len(self.list_api_keys(account_id)) >= MAX_API_KEYS:
            raise Conflict(f"An account may have at most {MAX_API_KEYS} API keys; revoke one first.",
                           code="TOO_MANY_API_KEYS")
        now = self.clock.now()
        api_key, key_id = API_KEY_PREFIX + new_secret(32), new_id("key")
        credential_repo.save(Credential(sha256_hex(api_key), account_id=account_id, kind=API_KEY, key_id=key_id,
                                        label=label, created_at=now, scopes=frozenset(s.value for s in scopes)))
        return IssuedApiKey(api_key=api_key, key_id=key_id, label=label, created_at=now, scopes=scopes)

    def list_api_keys(self, account_id: str) -> list[Credential]:
        return credential_repo.of_account(account_id, API_KEY)

    def revoke_api_key(self, account_id: str, key_id: str) -> None:
        """Raises NotFound unless the account has a key with this id."""
        _delete_one(self.list_api_keys(account_id), key_id,
                    NotFound("There is no API key with this id on your account.", code="API_KEY_NOT_FOUND"))

    def revoke(self, token_hash: str) -> None:
        credential_repo.delete(token_hash)

    def revoke_sessions(self, account_id: str) -> int:
        """Sign out everywhere: every session of the account stops working now. Returns how many were deleted."""
        self._refuse_older(account_id, ["sessions_valid_after"])
        return self._delete(account_id, SESSION)

    def revoke_all(self, account_id: str) -> int:
        """Every session and API key of the account stops working now. Returns how many were deleted."""
        self._refuse_older(account_id, ["sessions_valid_after", "keys_valid_after"])
        return self._delete(account_id, None)

    def _refuse_older(self, account_id: str, cutoffs: list[str]) -> None:
        now = self.clock.now()
        try:
            account_repo.change(account_id, dict.fromkeys(cutoffs, now), when=account_repo.EXISTS)
        except transaction.Refused:
            raise NotFound("Account not found.") from None

    def _delete(self, account_id: str, kind: str | None) -> int:
        doomed = credential_repo.of_account(account_id, kind)
        credential_repo.delete_all(c.token_hash for c in doomed)
        return len(doomed)


def _delete_one(listed: list[Credential], key_id: str, missing: NotFound) -> None:
    """Delete the credential of `listed` with this public id; raises `missing` when none has it."""
    credential = next((c for c in listed if c.key_id == key_id), None)
    if credential is None:
        raise missing
    credential_repo.delete(credential.token_hash)
