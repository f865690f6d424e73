"""JSON shapes of the account area's replies (API.md field names), built from store rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.lazy import lazy_module
from chalicelib.config import Settings
from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.scopes import stored_scopes

if TYPE_CHECKING:  # the services load with the first request that needs them (api/lazy.py)
    from chalicelib.services.accounts import activity as activity_log
    from chalicelib.services.accounts import registration
    from chalicelib.store.activity_repo import ActivityEntry
    from chalicelib.store.credential_repo import Credential
else:
    activity_log = lazy_module("chalicelib.services.accounts.activity")
    registration = lazy_module("chalicelib.services.accounts.registration")


def _iso_or_none(ts: float | None) -> str | None:
    return iso(ts) if ts is not None else None


def me(account: Account, credential_kind: str, settings: Settings, clock: Clock) -> dict[str, Any]:
    balance, held = int(account.balance_cents), int(account.held_cents)
    return {
        "account_id": account.account_id,
        "email": account.email,
        "status": account.status,
        "balance_cents": balance,
        "held_cents": held,
        "available_cents": balance - held,
        "topup_min_cents": settings.topup_min_cents,
        "topup_max_cents": settings.topup_max_cents,
        "currency": settings.currency,
        "restricted": balance < 0,
        **agreement_state(account, settings, clock),
        "created_at": iso(account.created_at),
        "authenticated_with": credential_kind,
    }


def agreement_state(account: Account, settings: Settings, clock: Clock) -> dict[str, Any]:
    """Which version the account accepted and how, the one in force, and a newer one it has not accepted (from
    its publication: the dashboard's banner), with the day it takes effect."""
    from chalicelib.services.accounts.agreement_versions import AgreementVersions

    versions = AgreementVersions(settings.agreement_version, clock)
    listed = versions.all()
    current, newest = versions.in_force(listed), versions.newest(listed)
    return {
        "agreement_version": account.agreement_version,
        "agreement_accepted_at": _iso_or_none(account.agreement_accepted_at),
        "agreement_accepted_by_request": account.agreement_accepted_request,
        "current_agreement_version": current.version,
        "agreement_update_required": registration.agreement_update_required(account, current.version),
        "agreement_pending": (newest.as_json() | {"in_force": newest.version == current.version}
                              if registration.agreement_update_required(account, newest.version) else None),
    }


def api_key(credential: Credential) -> dict[str, Any]:
    return {"key_id": credential.key_id, "label": credential.label, "scopes": sorted(stored_scopes(credential.scopes)),
            "created_at": iso(credential.created_at), "last_used_at": _iso_or_none(credential.last_used_at)}


def session(credential: Credential, *, current: bool) -> dict[str, Any]:
    return {"session_id": credential.key_id, "created_at": iso(credential.created_at),
            "last_seen_at": _iso_or_none(credential.last_used_at or credential.created_at),
            "expires_at": _iso_or_none(credential.expires_at),
            "ip": credential.ip, "device": credential.device, "current": current}


def activity(entry: ActivityEntry) -> dict[str, Any]:
    return {"kind": entry.kind, "ip": entry.ip, "detail": activity_log.detail_of(entry),
            "created_at": iso(entry.created_at)}
