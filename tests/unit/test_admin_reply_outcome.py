"""An admin's answer to a ticket is stored whatever the mailer does, and the admin is told exactly what happened:
answered and emailed, or answered with the email still to send (and a command that sends it)."""
from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.admin_lambda import handle
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.platform.mail_outbox import DurableMailer
from tests.unit.admin_harness import ACTOR, AdminHarness


class RefusingMailer:
    """A mail service that is down (SES throttling, a bad sender identity)."""

    def send(self, to: str, subject: str, body: str) -> str:
        raise ConnectionError("mail service unavailable")


def run(office: AdminHarness, command: str, **args: object) -> dict:
    return handle({"command": command, "args": args, "actor": ACTOR}, service=office.admin)


def test_reply__an_email_the_mailer_refuses_is_reported_not_sent_and_the_answer_stays(office):
    # Given a user's ticket and a mail service that refuses everything
    account = office.account()
    ticket = office.admin.support.open_ticket(account.account_id, "No SMS", "Nothing came.")
    office.admin.support.mailer = RefusingMailer()
    # When support answers it
    result = run(office, "reply", ticket_id=ticket.ticket_id, message="We refunded it.")
    # Then the admin is told the answer is stored and the email not sent (not an INTERNAL_ERROR), with the retry
    assert "error" not in result, result
    assert result["email"] == "not_sent" and f"resend-reply {ticket.ticket_id}" in result["email_note"]
    assert result["status"] == "answered" and result["messages"][-1]["message"] == "We refunded it."
    assert office.admin.support.pending_emails(ticket.ticket_id) == [2]


def test_reply__an_email_the_mail_service_refuses_is_reported_queued_and_the_outbox_sends_it(office):
    # Given a user's ticket and the service's durable mailer in front of a mail service that refuses for now
    account = office.account()
    ticket = office.admin.support.open_ticket(account.account_id, "No SMS", "Nothing came.")
    office.admin.support.mailer = DurableMailer(RefusingMailer(), office.clock, first_backoff_seconds=0)
    # When support answers it
    result = run(office, "reply", ticket_id=ticket.ticket_id, message="We refunded it.")
    # Then the admin is told the email is queued (no action needed), and once the service is back the job sends it
    assert (result["email"], result["status"]) == ("queued", "answered")
    assert office.admin.support.pending_emails(ticket.ticket_id) == []
    assert DurableMailer(office.mailer, office.clock).deliver_due() == 1
    assert "We refunded it." in office.mailer.last_to(account.email).body


def test_resend_reply__sends_the_pending_email_once_the_mailer_takes_it_and_only_once(office):
    # Given an answer whose email the mailer refused
    account = office.account()
    ticket = office.admin.support.open_ticket(account.account_id, "Refund", "Please.")
    office.admin.support.mailer = RefusingMailer()
    run(office, "reply", ticket_id=ticket.ticket_id, message="Approved.")
    # When the mail service is back and the operator retries, twice
    office.admin.support.mailer = office.mailer
    first = run(office, "resend-reply", ticket_id=ticket.ticket_id)
    second = run(office, "resend-reply", ticket_id=ticket.ticket_id)
    # Then the user got the answer exactly once, and nothing is left to send
    assert (first["email"], first["sent"], first["pending"]) == ("sent", [2], [])
    assert (second["sent"], second["pending"]) == ([], [])
    assert [m.body for m in office.mailer.sent if m.to == account.email and "Approved." in m.body]


def test_outbox_mailer__text_holding_a_lone_surrogate_is_still_sent(tmp_path: Path):
    # Given text stored before input was checked (a ticket subject holding an unpaired surrogate)
    mailer = OutboxMailer(str(tmp_path), "SMS Rooms <no-reply@sms-rooms.local>")
    # When it is emailed, as the real mailers encode it
    mailer.send("ann@example.com", "Re: Help \ud800 me", "Your ticket \udfff was answered.")
    # Then the message goes out with the surrogate shown as '?'
    [eml] = list(tmp_path.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Subject"] == "Re: Help ? me"
    assert "Your ticket ? was answered." in message.get_content()


@pytest.mark.parametrize("field", ["subject", "message"])
def test_open_ticket__a_lone_surrogate_is_refused_at_input(office, field: str):
    # Given a signed-in user
    account = office.account()
    token = Credentials(office.clock, office.settings.session_ttl_seconds).issue_session(account.account_id).token
    body = {"subject": "Help", "message": "Nothing came."} | {field: "Help \ud800"}
    # When they open a ticket whose subject or message holds an unpaired surrogate
    with Client(app) as client:
        reply = client.http.post("/v1/support/tickets", body=json.dumps(body),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    # Then it is refused naming the field, and nothing is stored
    assert reply.status_code == 422
    assert json.loads(reply.body)["error"]["details"]["field"] == field
    assert office.admin.support.tickets_of(account.account_id) == []


def test_reply__an_admin_message_with_a_lone_surrogate_is_refused_before_anything_is_stored(office):
    account = office.account()
    ticket = office.admin.support.open_ticket(account.account_id, "Help", "Nothing came.")
    result = run(office, "reply", ticket_id=ticket.ticket_id, message="Fixed \udfff")
    assert result["error"]["code"] == "INVALID_INPUT"
    assert len(office.admin.support.ticket(ticket.ticket_id).messages) == 1
