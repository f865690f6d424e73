"""The operator's side of the agreement (13.1): publish a version (audited) and see how far its emails have gone."""
from __future__ import annotations

from typing import Any

from chalicelib.config import get_settings
from chalicelib.domain.clock import Clock
from chalicelib.services.accounts.agreement_versions import AgreementVersions
from chalicelib.services.admin.audit import SYSTEM, AuditLog, AuditRecord
from chalicelib.store import agreement_repo


class AgreementAdmin:
    def __init__(self, versions: AgreementVersions, audit_log: AuditLog) -> None:
        self.versions = versions
        self.audit_log = audit_log

    def publish(self, text: str, effective: str, actor: str) -> dict[str, Any]:
        """Store the version; every user sees the banner from now and the `notify_agreement` job emails them."""
        result = self.versions.publish(text, effective, actor)
        if result.get("published"):
            self.audit_log.record(AuditRecord(SYSTEM, "agreement-publish", actor, after={
                key: result[key] for key in ("version", "effective_on", "sha256")}))
        return result

    def status(self) -> dict[str, Any]:
        """Every version, which is in force, and for each published one how many emails were queued."""
        all_versions = self.versions.all(fresh=True)
        rows = []
        for info in all_versions:
            row: dict[str, Any] = info.as_json()
            if info.effective_on is not None:
                stored = agreement_repo.read(info.version)
                if stored is not None:
                    row.update(notices_queued=stored.notices_queued, notices_done=stored.notice_done_at is not None,
                               published_by=stored.published_by)
            rows.append(row)
        return {"in_force": self.versions.in_force(all_versions).version,
                "newest": self.versions.newest(all_versions).version, "versions": rows}


def agreement_admin(clock: Clock, audit_log: AuditLog) -> AgreementAdmin:
    return AgreementAdmin(AgreementVersions(get_settings().agreement_version, clock), audit_log)
