"""Sessions and API keys: issued once, stored as SHA-256 only, listed by key id, revoked singly or all at once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ids import new_id, new_secret, sha256_hex
from chalicelib.domain.scopes import DEFAULT_SCOPES, Scope
from chalicelib.store.accounts import Account, Credential

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
        Credential(sha256_hex(token), account_id=account_id, kind=SESSION, key_id=key_id, created_at=now,
                   expires_at=datetime.fromtimestamp(expires_at, tz=UTC), ip=ip, device=device or None).save()
        return IssuedSession(token=token, key_id=key_id, expires_at=expires_at)

    def list_sessions(self, account: Account) -> list[Credential]:
        """The account's live sessions, newest first (expired and signed-out-everywhere ones left out)."""
        now, cutoff = self.clock.now(), account.sessions_valid_after
        found = Credential.by_account.query(account.account_id, filter_condition=Credential.kind == SESSION,
                                            scan_index_forward=False)
        return [c for c in found if (c.expires_at is None or c.expires_at.timestamp() > now)
                and (cutoff is None or c.created_at > cutoff)]

    def find(self, token_hash: str) -> Credential | None:
        try:
            return Credential.get(token_hash, consistent_read=True)
        except Credential.DoesNotExist:
            return None

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
        Credential(sha256_hex(api_key), account_id=account_id, kind=API_KEY, key_id=key_id, label=label,
                   created_at=now, scopes={s.value for s in scopes}).save()
        return IssuedApiKey(api_key=api_key, key_id=key_id, label=label, created_at=now, scopes=scopes)

    def list_api_keys(self, account_id: str) -> list[Credential]:
        return list(Credential.by_account.query(account_id, filter_condition=Credential.kind == API_KEY))

    def revoke_api_key(self, account_id: str, key_id: str) -> None:
        """Raises NotFound unless the account has a key with this id."""
        _delete_one(self.list_api_keys(account_id), key_id,
                    NotFound("There is no API key with this id on your account.", code="API_KEY_NOT_FOUND"))

    def revoke(self, token_hash: str) -> None:
        Credential(token_hash).delete()

    def revoke_sessions(self, account_id: str) -> int:
        """Sign out everywhere: every session of the account stops working now. Returns how many were deleted."""
        self._refuse_older(account_id, [Account.sessions_valid_after])
        return self._delete(account_id, SESSION)

    def revoke_all(self, account_id: str) -> int:
        """Every session and API key of the account stops working now. Returns how many were deleted."""
        self._refuse_older(account_id, [Account.sessions_valid_after, Account.keys_valid_after])
        return self._delete(account_id, None)

    def _refuse_older(self, account_id: str, fields: list[object]) -> None:
        now = self.clock.now()
        try:
            Account(account_id).update(actions=[f.set(now) for f in fields],  # type: ignore[attr-defined]
                                       condition=Account.account_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound("Account not found.") from None
            raise

    def _delete(self, account_id: str, kind: str | None) -> int:
        condition = Credential.kind == kind if kind else None
        doomed = list(Credential.by_account.query(account_id, filter_condition=condition))
        with Credential.batch_write() as batch:
            for credential in doomed:
                batch.delete(credential)
        return len(doomed)


def _delete_one(listed: list[Credential], key_id: str, missing: NotFound) -> None:
    """Delete the credential of `listed` with this public id; raises `missing` when none has it."""
    credential = next((c for c in listed if c.key_id == key_id), None)
    if credential is None:
        raise missing
    credential.delete()
