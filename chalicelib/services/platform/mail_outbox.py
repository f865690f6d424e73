"""Email that cannot be lost silently: a message the sender refuses is kept and sent again by the `deliver_mail` job.

SES refuses every message until the sending domain is verified and the account is out of the sandbox, and it
throttles; either way the request that sent the mail (register, reset, a refund that failed…) has already
committed. So a refusal is not the caller's error: the message goes to the outbox (a table), `MailNotSent` is
counted, and the job sends it again with exponential backoff until the sender takes it or `max_attempts` run out
(`MailGivenUp` counted, an error logged). Both metrics have alarms (infra/operations.py). Each queued message is
leased before it is sent, so two runs never send it twice.
"""
from __future__ import annotations

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_id
from chalicelib.observability import emit_counts, logger
from chalicelib.providers.mailer import Mailer
from chalicelib.services.platform import outbox
from chalicelib.store import outbox_repo
from chalicelib.store.outbox_repo import Queue, QueuedMail

NOT_SENT_METRIC = "MailNotSent"  # each refusal, first send or retry
GIVEN_UP_METRIC = "MailGivenUp"  # a message that will never be sent
QUEUED_PREFIX = "mail"  # the id send() answers for a message it kept instead of sending
_BATCH = 50
_MAX_ERROR = 300


def is_queued(message_id: str) -> bool:
    """Whether a send() answer is the outbox id of a message kept for the deliver_mail job, not a sent message."""
    return message_id.startswith(QUEUED_PREFIX + "_")


class DurableMailer:
    """A Mailer that never drops a message: sent now, or kept in the outbox for the job."""

    def __init__(self, sender: Mailer, clock: Clock, *, max_attempts: int = 12,
                 first_backoff_seconds: float = 60.0) -> None:
        self.sender = sender
        self.clock = clock
        self.max_attempts = max_attempts  # 12 with a first minute's wait: about eight hours of trying
        self.first_backoff_seconds = first_backoff_seconds

    def send(self, to: str, subject: str, body: str) -> str:
        """Send now; when the sender refuses, queue the message and return its outbox id (`mail_…`)."""
        try:
            return self.sender.send(to, subject, body)
        except InvalidInput:
            raise  # a header that would inject: no retry can make it sendable
        except Exception as exc:
            _count(NOT_SENT_METRIC)
            return self._queue(to, subject, body, exc)

    def deliver_due(self) -> int:
        """Send every queued message whose time has come; the count the sender took."""
        due = outbox_repo.due(Queue.MAIL, [outbox.DUE], self.clock.now(), _BATCH)
        return sum(self._attempt(mail) for mail in due)

    def _queue(self, to: str, subject: str, body: str, refusal: Exception) -> str:
        now = self.clock.now()
        mail = QueuedMail(new_id(QUEUED_PREFIX), to=to, subject=subject, body=body, last_error=_reason(refusal),
                          created_at=now, next_attempt_at=now + self.first_backoff_seconds, due=outbox.DUE)
        try:
            outbox_repo.add(Queue.MAIL, mail)
        except Exception:
            _count(GIVEN_UP_METRIC)  # neither sent nor kept: lost, and said so
            logger.exception("email neither sent nor queued", extra={"subject": subject, "error": _code(refusal)})
            raise
        logger.warning("email not sent; queued for retry", extra={"mail_id": mail.mail_id, "subject": subject,
                                                                 "error": _code(refusal)})
        return mail.mail_id

    def _attempt(self, mail: QueuedMail) -> bool:
        if not outbox.lease(Queue.MAIL, mail, self.clock):
            return False  # another run has it
        try:
            self.sender.send(mail.to, mail.subject, mail.body or "")
        except Exception as exc:
            _count(NOT_SENT_METRIC)
            if not outbox.retry_later(Queue.MAIL, mail, self.clock, _reason(exc), max_attempts=self.max_attempts,
                                      first_backoff_seconds=self.first_backoff_seconds):
                _count(GIVEN_UP_METRIC)
                logger.error("email given up after every retry", extra={
                    "mail_id": mail.mail_id, "subject": mail.subject, "attempts": self.max_attempts,
                    "error": _code(exc)})
                outbox_repo.change(Queue.MAIL, mail.mail_id, {"body": None})
            return False
        outbox.settle(Queue.MAIL, mail, self.clock, "sent", None)
        outbox_repo.change(Queue.MAIL, mail.mail_id, {"body": None})
        return True


def _code(exc: Exception) -> str:
    """SES's error code (`MessageRejected`, `Throttling`…) or the exception's kind: what the log may say."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(error.get("Code") or type(exc).__name__)


def _reason(exc: Exception) -> str:
    """The code and the sender's message, for the outbox row (SES's message may name addresses: not for logs)."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return f"{_code(exc)}: {error.get('Message') or exc}"[:_MAX_ERROR]


def _count(metric: str) -> None:
    emit_counts({metric: 1})
