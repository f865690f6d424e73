"""Continued use as acceptance (13.3): the first request after a new version took effect records it, per account.

No DynamoDB call of its own: it joins the credential's last-use write (services/authn.py, at most once a minute a
credential), in one transaction with the account's new version and an activity entry naming the request.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.config import get_settings
from chalicelib.services.accounts.agreement_versions import AgreementVersions

if TYPE_CHECKING:
    from chalicelib.domain.accounts import Account
    from chalicelib.store.credential_repo import Credential


@dataclass(frozen=True)
class _At:
    """The request's time, as the clock the versions read."""

    t: float

    def now(self) -> float:
        return self.t


def accept_by_use(credential: Credential, account: Account, now: float, ip: str | None,
                  request_id: str | None) -> bool:
    """When a version the account has not accepted is in force: note the credential's use and the acceptance
    together; True when it did (the caller's own last-use write is then done)."""
    settings = get_settings()
    version = AgreementVersions(settings.agreement_version, _At(now)).acceptance_due(account.agreement_version)
    if version is None:
        return False
    # What records it loads only when a version is due (once per account and version), not on every minute's use
    from chalicelib.services.accounts.activity import ActivityKind, activity_entry
    from chalicelib.store import account_repo, activity_repo, credential_repo, transaction

    entry = activity_entry(account.account_id, ActivityKind.AGREEMENT_ACCEPTED, ip,
                           {"version": version, "by": "continued use", "request_id": request_id}, now=now,
                           retention_days=settings.activity_retention_days)
    accepted = account_repo.changing(account.account_id, {
        "agreement_version": version, "agreement_accepted_at": now, "agreement_accepted_ip": ip or None,
        "agreement_accepted_request": request_id or "unknown"}, when={"agreement_version": account.agreement_version})
    try:
        transaction.commit([credential_repo.touching(credential.token_hash, now), accepted,
                            activity_repo.adding(entry)])
    except transaction.Refused:
        return True  # revoked, or accepted by a request at the same moment: the next minute's use tries again
    return True
