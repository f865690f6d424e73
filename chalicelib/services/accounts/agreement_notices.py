"""Telling every user about a published agreement version (13.1–13.2): one email each, through the mail outbox.

A resumable job: each run takes one page of the accounts table from where the last run stopped (the scan's
cursor is kept on the version's item) and queues one message per account in the mail outbox under the id
`mail_agreement_<version>_<account>`, written only if absent, so a run repeated after a crash, or two runs at
once, never queue a second message; the `deliver_mail` job sends them (leased, so never twice). The cursor moves
only from the value this run read, and the version leaves the `notice_due` index when the scan is done.
"""
from __future__ import annotations

import json

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.clock import Clock
from chalicelib.services.accounts.account_emails import SIGNATURE, Email
from chalicelib.services.platform import outbox
from chalicelib.store.accounts import Account
from chalicelib.store.agreements import NOTICE_DUE, AgreementVersion
from chalicelib.store.mail import QueuedMail

PAGE = 100  # accounts read per run and version: a few hundred small writes, well inside a Lambda's minute
_SKIPPED = (AccountStatus.DEACTIVATED.value,)  # no address left to write to


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
        due = list(AgreementVersion.notices_due.query(NOTICE_DUE))
        return sum(self.next_page(AgreementVersion.get(v.version, consistent_read=True)) for v in due)

    def next_page(self, version: AgreementVersion) -> int:
        if version.notice_due is None:
            return 0
        cursor = json.loads(version.notice_cursor) if version.notice_cursor else None
        page = Account.scan(limit=PAGE, page_size=PAGE, last_evaluated_key=cursor,
                            attributes_to_get=["account_id", "email", "status", "agreement_version"])
        accounts = list(page)
        email = notice(self.base_url, str(version.version), str(version.effective_on))
        queued = sum(self._queue(version, account, email) for account in accounts if _told(account, version))
        self._advance(version, page.last_evaluated_key, queued)
        return queued

    def _queue(self, version: AgreementVersion, account: Account, email: Email) -> bool:
        now = self.clock.now()
        mail = QueuedMail(notice_id(str(version.version), str(account.account_id)), to=account.email,
                          subject=email.subject, body=email.body, created_at=now, next_attempt_at=now,
                          due=outbox.DUE, attempts=0)
        try:
            mail.save(condition=QueuedMail.mail_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False  # queued by an earlier run
        return True

    def _advance(self, version: AgreementVersion, last_key: object, queued: int) -> None:
        unchanged = (AgreementVersion.notice_cursor.does_not_exist() if version.notice_cursor is None
                     else AgreementVersion.notice_cursor == version.notice_cursor)
        actions: list[Action] = [AgreementVersion.notices_queued.add(queued)]
        if last_key is None:
            actions += [AgreementVersion.notice_done_at.set(self.clock.now()), AgreementVersion.notice_due.remove(),
                        AgreementVersion.notice_cursor.remove()]
        else:
            actions.append(AgreementVersion.notice_cursor.set(json.dumps(last_key, sort_keys=True)))
        try:
            version.update(actions=actions, condition=unchanged & AgreementVersion.notice_due.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            # Another run took this page at the same time (the ids kept each email single): count ours only.
            if queued:
                version.update(actions=[AgreementVersion.notices_queued.add(queued)])


def _told(account: Account, version: AgreementVersion) -> bool:
    if account.status in _SKIPPED:
        return False
    accepted = account.agreement_version
    return not (accepted and accepted.isdigit() and int(accepted) >= int(version.version))
