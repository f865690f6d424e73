"""Email that cannot be lost silently: SES's refusal queues the message, the job sends it once, or gives up loudly."""
from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.config import Settings
from chalicelib.domain.errors import InvalidInput
from chalicelib.providers.mailer import SesMailer
from chalicelib.services.accounts.passwords import Passwords
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.platform.mail_outbox import GIVEN_UP_METRIC, NOT_SENT_METRIC, DurableMailer
from chalicelib.store.mail import QueuedMail
from tests.clock import FixedClock
from tests.unit.accounts_support import CHEAP, IP, PASSWORD

SENDER = "SMS Rooms <no-reply@mail.example.com>"


def ses_sent() -> list[Any]:
    """What moto's SES accepted: the messages that really went out."""
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def verify_sending_domain() -> None:
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="mail.example.com")


def emitted(stdout: str, metric: str) -> int:
    blobs = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]
    return sum(int(sum(blob[metric])) for blob in blobs if metric in blob)


class Office:
    """The account service with SES (moto) behind the durable mailer, on a clock we move."""

    def __init__(self, settings: Settings, *, max_attempts: int = 12) -> None:
        self.clock = FixedClock()
        self.mailer = DurableMailer(SesMailer(SENDER, "us-east-1"), self.clock, max_attempts=max_attempts,
                                    first_backoff_seconds=60)
        self.accounts = AccountsService(settings, self.clock, self.mailer, Passwords(CHEAP))

    def register(self, email: str = "ann@example.com") -> None:
        self.accounts.register(email, PASSWORD, "1", IP)

    def job_runs(self, times: int = 1, after_seconds: float = 3600) -> int:
        sent = 0
        for _ in range(times):
            self.clock.advance(after_seconds)
            sent += self.mailer.deliver_due()
        return sent


def test_register__ses_refusing_the_email_queues_it_and_counts_it(moto_tables: Settings,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # Given SES that refuses (the sending domain is not verified yet)
    office = Office(moto_tables)
    # When someone registers
    office.register()
    # Then the account exists and the verification email waits in the outbox, counted as not sent
    [queued] = list(QueuedMail.scan())
    assert (queued.to, queued.status, queued.subject) == ("ann@example.com", "pending", "Confirm your email for "
                                                                                        "SMS Rooms")
    assert queued.last_error is not None and queued.last_error.startswith("MessageRejected")
    assert ses_sent() == []
    assert emitted(capsys.readouterr().out, NOT_SENT_METRIC) == 1


def test_deliver_due__sends_the_queued_email_exactly_once_when_ses_takes_it(moto_tables: Settings) -> None:
    # Given a verification email SES refused, then the domain verified
    office = Office(moto_tables)
    office.register()
    verify_sending_domain()
    # When the job runs, then runs again
    first, again = office.job_runs(), office.job_runs()
    # Then it went out once, with its link, and the outbox keeps no copy of the body
    [sent] = ses_sent()
    assert "#/verify?token=" in sent.raw_data
    assert (first, again) == (1, 0)
    [settled] = list(QueuedMail.scan())
    assert (settled.status, settled.due, settled.body) == ("sent", None, None)


def test_deliver_due__a_run_while_another_is_sending_does_not_send_again(moto_tables: Settings) -> None:
    # Given a queued email, and a second container's run starting while the first is talking to SES
    office = Office(moto_tables)
    office.register()
    verify_sending_domain()
    office.clock.advance(3600)
    second = DurableMailer(SesMailer(SENDER, "us-east-1"), office.clock)
    real_send = office.mailer.sender.send
    overlapped: list[int] = []

    def send_while_another_runs(to: str, subject: str, body: str) -> str:
        overlapped.append(second.deliver_due())
        return real_send(to, subject, body)

    office.mailer.sender.send = send_while_another_runs  # type: ignore[method-assign]
    # When both run
    sent = office.mailer.deliver_due()
    # Then the message went out once: the second run found it leased
    assert (sent, overlapped, len(ses_sent())) == (1, [0], 1)


def test_deliver_due__backs_off_between_attempts(moto_tables: Settings) -> None:
    # Given a queued email SES keeps refusing
    office = Office(moto_tables)
    office.register()
    # When the job runs every minute for ten minutes
    office.job_runs(times=10, after_seconds=60)
    # Then it was tried at 1, 3 and 7 minutes (waits of 1, 2, 4 minutes), not every minute
    assert QueuedMail.scan().next().attempts == 4


def test_deliver_due__gives_up_after_its_attempts_counts_it_and_forgets_the_body(
        moto_tables: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    # Given SES refusing for good and a queue that tries three times in all
    office = Office(moto_tables, max_attempts=3)
    office.register()
    # When the job runs long after every backoff, several times
    office.job_runs(times=5)
    # Then it is marked failed, its body (a one-time link) dropped, and both metrics counted
    [failed] = list(QueuedMail.scan())
    assert (failed.status, failed.attempts, failed.due, failed.body) == ("failed", 3, None, None)
    out = capsys.readouterr().out
    assert (emitted(out, NOT_SENT_METRIC), emitted(out, GIVEN_UP_METRIC)) == (3, 1)


def test_send__a_header_injection_is_refused_not_queued(moto_tables: Settings) -> None:
    office = Office(moto_tables)
    with pytest.raises(InvalidInput):
        office.mailer.send("ann@example.com\r\nBcc: all@example.com", "Hi", "body")
    assert list(QueuedMail.scan()) == []


def test_send__an_email_neither_sent_nor_queued_is_counted_as_given_up(
        moto_tables: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given SES refusing and the outbox table unreachable
    office = Office(moto_tables)

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(QueuedMail, "save", unreachable)
    # When an email is sent / Then the caller hears of it, and the loss is counted
    with pytest.raises(ConnectionError):
        office.mailer.send("ann@example.com", "Hi", "body")
    assert emitted(capsys.readouterr().out, GIVEN_UP_METRIC) == 1
