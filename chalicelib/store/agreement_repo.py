"""Published agreement versions (store/agreements.py) as values, and the announcement job's walk over the accounts."""
from __future__ import annotations

import json
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.domain.accounts import AccountStatus
from chalicelib.store.accounts import Account
from chalicelib.store.agreements import NOTICE_DUE, AgreementVersion
from chalicelib.store.base import JoinedWrite
from chalicelib.store.transaction import putting, refused_if_condition_failed


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    text: str
    sha256: str
    effective_on: str  # YYYY-MM-DD, UTC
    published_at: float
    published_by: str
    notice_cursor: str | None = None  # where the announcement job is in the accounts table (JSON); None: the start
    notices_queued: int = 0
    notice_done_at: float | None = None
    notice_due: bool = False  # the announcement job still has accounts to write to


@dataclass(frozen=True)
class Addressee:
    """An account as the announcement reads it: whom to write to and what it accepted."""

    account_id: str
    email: str
    status: AccountStatus
    agreement_version: str | None


def read(version: str, *, consistent: bool = True) -> PublishedVersion | None:
    try:
        row = AgreementVersion.get(version, consistent_read=consistent)
    except AgreementVersion.DoesNotExist:
        return None
    return PublishedVersion(version=row.version, text=row.text, sha256=row.sha256, effective_on=row.effective_on,
                            published_at=float(row.published_at), published_by=row.published_by,
                            notice_cursor=row.notice_cursor, notices_queued=int(row.notices_queued),
                            notice_done_at=None if row.notice_done_at is None else float(row.notice_done_at),
                            notice_due=row.notice_due is not None)


def publishing(version: PublishedVersion) -> JoinedWrite:
    """The new version's Put (announcement due), refused when the version exists."""
    return putting(AgreementVersion(version.version, text=version.text, sha256=version.sha256,
                                    effective_on=version.effective_on, published_at=version.published_at,
                                    published_by=version.published_by, notice_due=NOTICE_DUE),
                   AgreementVersion.version.does_not_exist())


def being_announced() -> list[str]:
    """The versions whose announcement is not done (a sparse index)."""
    return [row.version for row in AgreementVersion.notices_due.query(NOTICE_DUE)]


def addressees(cursor: str | None, limit: int) -> tuple[list[Addressee], str | None]:
    """One page of the accounts table from `cursor`, and the cursor after it (None: the table is done)."""
    page = Account.scan(limit=limit, page_size=limit, last_evaluated_key=json.loads(cursor) if cursor else None,
                        attributes_to_get=["account_id", "email", "status", "agreement_version"])
    found = [Addressee(a.account_id, a.email, AccountStatus(a.status), a.agreement_version) for a in page]
    last = page.last_evaluated_key
    return found, None if last is None else json.dumps(last, sort_keys=True)


def advance(version: str, read_from: str | None, queued: int, next_cursor: str | None, now: float) -> bool:
    """Count `queued` emails and move the cursor from `read_from` to `next_cursor` (None: done). False when another
    run moved it first; then only the count is added."""
    actions: list[Action] = [AgreementVersion.notices_queued.add(queued)]
    if next_cursor is None:
        actions += [AgreementVersion.notice_done_at.set(now), AgreementVersion.notice_due.remove(),
                    AgreementVersion.notice_cursor.remove()]
    else:
        actions.append(AgreementVersion.notice_cursor.set(next_cursor))
    unchanged = (AgreementVersion.notice_cursor.does_not_exist() if read_from is None
                 else AgreementVersion.notice_cursor == read_from)
    try:
        AgreementVersion(version).update(actions=actions, condition=unchanged & AgreementVersion.notice_due.exists())
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        if queued:
            AgreementVersion(version).update(actions=[AgreementVersion.notices_queued.add(queued)])
        return False
    return True
