"""The agreement's versions (13.1–13.3): the bundled files and those an admin published, which one is in force on a
day, each one's text with its headings and its changes from the one before, and publishing a new one.

Which versions exist and when each takes effect is one small runtime setting (`agreement_versions`), read through
the runtime settings' short per-container cache: every authenticated request can ask "is a newer version in force
than this account accepted?" without a DynamoDB call of its own. A version's text is one item of the `agreements`
table, read once per container (a published text never changes).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from chalicelib.domain import agreement_text
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import Conflict, InvalidInput, NotFound
from chalicelib.services.platform import runtime_settings
from chalicelib.store import agreement_repo, transaction
from chalicelib.store.agreement_repo import PublishedVersion
from chalicelib.store.runtime import read_setting, replacing_setting

SCHEDULE_KEY = runtime_settings.AGREEMENT_SCHEDULE
_DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    effective_on: str | None  # None: a bundled version, in force from the start when it is the baseline
    published_at: float | None
    sha256: str

    @property
    def number(self) -> int:
        return int(self.version)

    def as_json(self) -> dict[str, object]:
        published = None if self.published_at is None else datetime.fromtimestamp(self.published_at, tz=UTC)
        return {"version": self.version, "effective_on": self.effective_on, "sha256": self.sha256,
                "published_at": published.strftime("%Y-%m-%dT%H:%M:%SZ") if published else None,
                "url": f"/agreement/{self.version}"}


def day_of(ts: float) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


@functools.cache
def _bundled() -> tuple[VersionInfo, ...]:
    found = sorted((int(p.stem.removeprefix("agreement_v")), p) for p in _DATA.glob("agreement_v*.txt"))
    return tuple(VersionInfo(str(n), None, None, agreement_text.sha256_of(_bundled_text(str(n)))) for n, _ in found)


@functools.cache
def _bundled_text(version: str) -> str:
    return (_DATA / f"agreement_v{version}.txt").read_text(encoding="utf-8")


def _published(raw: object) -> list[VersionInfo]:
    entries = raw if isinstance(raw, list) else []
    return [VersionInfo(str(e["version"]), str(e["effective_on"]), float(e["published_at"]), str(e["sha256"]))
            for e in entries]


_texts: dict[str, str] = {}


class AgreementVersions:
    def __init__(self, baseline: str, clock: Clock) -> None:
        self.baseline = baseline  # the bundled version in force until a published one takes effect
        self.clock = clock

    def all(self, *, fresh: bool = False) -> list[VersionInfo]:
        """Every version, oldest first: the bundled files, then what admins published."""
        return [*_bundled(), *_published(runtime_settings.get_value(SCHEDULE_KEY, [], fresh=fresh))]

    def in_force(self, versions: list[VersionInfo] | None = None) -> VersionInfo:
        """The newest published version whose day has come (UTC), else the bundled baseline."""
        versions = self.all() if versions is None else versions
        today = day_of(self.clock.now()).isoformat()
        due = [v for v in versions if v.effective_on is not None and v.effective_on <= today]
        return due[-1] if due else self.info(self.baseline, versions)

    def newest(self, versions: list[VersionInfo] | None = None) -> VersionInfo:
        """The latest version: in force, or published and waiting for its day."""
        versions = self.all() if versions is None else versions
        force, last = self.in_force(versions), versions[-1]
        return last if last.effective_on is not None and last.number > force.number else force

    def info(self, version: str, versions: list[VersionInfo] | None = None) -> VersionInfo:
        found = next((v for v in (self.all() if versions is None else versions) if v.version == version), None)
        if found is None:
            raise NotFound(f"There is no agreement version '{version}'.")
        return found

    def text(self, version: str) -> str:
        info = self.info(version)
        if info.effective_on is None:
            return _bundled_text(version)
        if info.sha256 not in _texts:  # by hash: a version's text never changes
            stored = agreement_repo.read(version, consistent=False)
            if stored is None:
                raise NotFound(f"There is no agreement version '{version}'.")
            _texts[info.sha256] = stored.text
        return _texts[info.sha256]

    def check_acceptable(self, version: str) -> None:
        """What a user may accept: the version in force, or a newer one already published; raises InvalidInput."""
        versions = self.all()
        force, newest = self.in_force(versions), self.newest(versions)
        if version in (force.version, newest.version):
            return
        raise InvalidInput(f"Agreement version '{version}' is not the current one ('{force.version}'); "
                           "read GET /v1/agreement and accept that version.", code="AGREEMENT_VERSION_NOT_CURRENT",
                           details={"field": "agreement_version"})

    def acceptance_due(self, accepted: str | None) -> str | None:
        """The published version in force that an account which accepted `accepted` now accepts by using the
        service (13.3), or None: nothing newer is in force, or the version in force is a bundled one."""
        force = self.in_force()
        if force.effective_on is None:
            return None
        if accepted is not None and accepted.isdigit() and int(accepted) >= force.number:
            return None
        return force.version

    def page(self, version: str) -> dict[str, object]:
        """A version as the agreement page shows it: its text, headings, and what changed since the one before."""
        versions = self.all()
        info = self.info(version, versions)
        text = self.text(version)
        earlier = [v for v in versions if v.number < info.number]
        previous = earlier[-1] if earlier else None
        changes = agreement_text.changes(self.text(previous.version), text) if previous else []
        force = self.in_force(versions)
        return {**info.as_json(), "text": text, "blocks": [b.as_json() for b in agreement_text.blocks(text)],
                "in_force": info.version == force.version,
                "previous_version": previous.version if previous else None,
                "changes": [c.as_json() for c in changes]}

    def publish(self, text: str, effective: str, actor: str) -> dict[str, object]:
        """Store a new version taking effect on `effective`; running it again with the same text and date answers
        the version already published. Raises InvalidInput (bad text or date) or Conflict (text unchanged)."""
        text = agreement_text.checked_text(text)
        day = agreement_text.effective_date(effective, day_of(self.clock.now())).isoformat()
        raw = read_setting(SCHEDULE_KEY)
        versions = [*_bundled(), *_published(json.loads(raw) if raw else [])]
        last, digest = versions[-1], agreement_text.sha256_of(text)
        if digest == last.sha256:
            if last.effective_on == day:
                return {**last.as_json(), "published": False, "note": "this text was already published"}
            raise Conflict(f"This text is version {last.version} already; nothing to publish.",
                           code="AGREEMENT_UNCHANGED", details={"version": last.version})
        if last.effective_on is not None and day < last.effective_on:
            raise InvalidInput(f"Version {last.version} takes effect on {last.effective_on}; a newer version cannot "
                               "take effect before it.", details={"field": "effective"})
        info = VersionInfo(str(last.number + 1), day, self.clock.now(), digest)
        self._store(info, text, actor, raw)
        return {**info.as_json(), "published": True}

    def _store(self, info: VersionInfo, text: str, actor: str, expected: str | None) -> None:
        entries = [*(json.loads(expected) if expected else []),
                   {"version": info.version, "effective_on": info.effective_on, "published_at": info.published_at,
                    "sha256": info.sha256}]
        assert info.effective_on is not None and info.published_at is not None  # a published one has both
        row = PublishedVersion(info.version, text=text, sha256=info.sha256, effective_on=info.effective_on,
                               published_at=info.published_at, published_by=actor)
        try:
            transaction.commit([agreement_repo.publishing(row),
                                replacing_setting(SCHEDULE_KEY, json.dumps(entries), expected, info.published_at)])
        except transaction.Refused:
            raise Conflict("Another version was published at the same moment; run the command again.",
                           code="AGREEMENT_CHANGING") from None
        runtime_settings.clear_cache()
