"""Telling every user about a published agreement version (13.1–13.2): one email each, through the mail outbox.

A resumable job: each run takes one page of the accounts table from where the last run stopped (the scan's
cursor is kept on the version's item) and queues one message per account in the mail outbox under the id
`mail_agreement_<version>_<account>`, written only if absent, so a run repeated after a crash, or two runs at
once, never queue a second message; the `deliver_mail` job sends them (leased, so never twice). The cursor moves
only from the value this run read, and the version leaves the `notice_due` index when the scan is done.
"""
from __future__ import annotations

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.clock import Clock
from chalicelib.services.accounts.account_emails import SIGNATURE, Email
from chalicelib.services.platform import outbox
from chalicelib.store import agreement_repo, outbox_repo
from chalicelib.store.agreement_repo import Addressee, PublishedVersion
from chalicelib.store.outbox_repo import Queue, QueuedMail

PAGE = 100  # accounts read per run and version: a few hundred small writes, well inside a Lambda's minute
_SKIPPED = (AccountStatus.DEACTIVATED,)  # no address left to write to


def notice_id(version: str, account_id: str) -> str:
    return f"mail_agreement_{version}_{account_id}"


def notice(base_url: str, version: str, effective_on: str) -> Email:
    subject = f"The SMS Rooms user agreement changes on {effective_on}"
    return Email(subject, f"""We have published version {version} of the SMS Rooms user agreement.
It takes effect on {effective_on} (UTC). Read it, with what changed, here:

{base_url}/agreement/{version}

Using SMS Rooms from that day on (signing in, the API, the bots' keys) means
you accept it (clause 13.3). You can also accept it now on the dashboard.

If you do not accept it, you can withdraw your consent and close your
account: sign in and choose "Decline and close my account" on the notice at
the top of the dashboard. A remaining balance is then requested back as a
refund (clause 6.3).
{SIGNATURE}""")


class AgreementNotices:
    def __init__(self, clock: Clock, base_url: str) -> None:
        self.clock = clock
        self.base_url = base_url

    def run(self) -> int:
        """One page of every version still being announced; the number of emails queued."""
        return sum(self.next_page(version) for version in
                   (agreement_repo.read(v) for v in agreement_repo.being_announced()) if version is not None)

    def next_page(self, version: PublishedVersion) -> int:
        if not version.notice_due:
            return 0
        accounts, next_cursor = agreement_repo.addressees(version.notice_cursor, PAGE)
        email = notice(self.base_url, version.version, version.effective_on)
        queued = sum(self._queue(version, account, email) for account in accounts if _told(account, version))
        self._advance(version, next_cursor, queued)
        return queued

    def _queue(self, version: PublishedVersion, account: Addressee, email: Email) -> bool:
        """False when an earlier run queued it (the id is the version's and the account's)."""
        now = self.clock.now()
        mail = QueuedMail(notice_id(version.version, account.account_id), to=account.email, subject=email.subject,
                          body=email.body, created_at=now, next_attempt_at=now, due=outbox.DUE, attempts=0)
        return outbox_repo.add(Queue.MAIL, mail, only_new=True)


    def _advance(self, version: PublishedVersion, next_cursor: str | None, queued: int) -> None:
        """Move the cursor on from where this run read; another run that took the page at the same time keeps its
        place, and only our count is added (the ids kept each email single)."""
        agreement_repo.advance(version.version, version.notice_cursor, queued, next_cursor, self.clock.now())


def _told(account: Addressee, version: PublishedVersion) -> bool:
    if account.status in _SKIPPED:
        return False
    accepted = account.agreement_version
    return not (accepted and accepted.isdigit() and int(accepted) >= int(version.version))
