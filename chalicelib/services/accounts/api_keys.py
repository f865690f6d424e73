"""API keys as their owner manages them: create (shown once), list, revoke; each change is logged as activity."""
from __future__ import annotations

from chalicelib.domain.clock import Clock
from chalicelib.domain.scopes import DEFAULT_SCOPES, Scope
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.services.accounts.sessions import Credentials, IssuedApiKey
from chalicelib.store.credential_repo import Credential


class ApiKeys:
    def __init__(self, credentials: Credentials, clock: Clock, retention_days: int) -> None:
        self.credentials = credentials
        self.clock = clock
        self.retention_days = retention_days

    def create(self, account_id: str, label: str | None, ip: str,
               scopes: frozenset[Scope] = DEFAULT_SCOPES) -> IssuedApiKey:
        issued = self.credentials.create_api_key(account_id, label, scopes)
        record_activity(account_id, ActivityKind.API_KEY_CREATED, ip,
                        {"key_id": issued.key_id, "scopes": sorted(scopes)}, clock=self.clock,
                        retention_days=self.retention_days)
        return issued

    def list(self, account_id: str) -> list[Credential]:
        return sorted(self.credentials.list_api_keys(account_id), key=lambda c: c.created_at, reverse=True)

    def revoke(self, account_id: str, key_id: str, ip: str) -> None:
        self.credentials.revoke_api_key(account_id, key_id)
        self._record(account_id, ActivityKind.API_KEY_REVOKED, ip, key_id)

    def _record(self, account_id: str, kind: ActivityKind, ip: str, key_id: str) -> None:
        record_activity(account_id, kind, ip, {"key_id": key_id}, clock=self.clock, retention_days=self.retention_days)
