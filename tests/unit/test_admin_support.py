"""Support tickets: users write (REST), support answers (admin), the user is emailed each answer."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from app import app
from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.support.tickets import Author, TicketKind, TicketStatus
from tests.unit.admin_harness import ACTOR, AdminHarness


def _bearer(office: AdminHarness, email: str) -> dict[str, str]:
    account = office.account(email)
    token = Credentials(office.clock, office.settings.session_ttl_seconds).issue_session(account.account_id).token
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_reply__answers_the_ticket_and_emails_the_user(office):
    # Given a user's ticket
    account = office.account()
    ticket = office.admin.support.open_ticket(account.account_id, "No SMS", "My number 7900 got nothing.")
    # When support answers it
    answered = office.admin.reply(ticket.ticket_id, "We refunded it; try another country.", ACTOR)
    # Then the ticket waits for the user, holds both messages in order, and the user got the answer by email
    assert answered["status"] == TicketStatus.ANSWERED.value
    assert [(m["author"], m["seq"]) for m in answered["messages"]] == [("user", 1), ("support", 2)]
    mail = office.mailer.last_to(account.email)
    assert "try another country" in mail.body and mail.subject == "Re: No SMS"


def test_add_user_message__reopens_an_answered_ticket_for_support(office):
    # Given an answered ticket
    account = office.account()
    ticket = office.admin.support.open_ticket(account.account_id, "Question", "How do I top up?")
    office.admin.reply(ticket.ticket_id, "With a card.", ACTOR)
    # When the user writes again
    office.admin.support.add_user_message(account.account_id, ticket.ticket_id, "Which cards?")
    # Then it is back in support's open queue with three messages
    queue = office.admin.tickets(TicketStatus.OPEN)["items"]
    assert [(t["ticket_id"], len(t["messages"])) for t in queue] == [(ticket.ticket_id, 3)]


def test_add_user_message__another_users_ticket_is_not_found(office):
    # Given Ann's ticket
    ann = office.account("ann@example.com")
    bob = office.account("bob@example.com")
    ticket = office.admin.support.open_ticket(ann.account_id, "Mine", "private")
    # When Bob writes to it, Then it does not exist for him and nothing was added
    with pytest.raises(NotFound):
        office.admin.support.add_user_message(bob.account_id, ticket.ticket_id, "hi")
    assert len(office.admin.support.ticket(ticket.ticket_id).messages) == 1


def test_open_ticket__blank_message_is_refused(office):
    account = office.account()
    with pytest.raises(InvalidInput):
        office.admin.support.open_ticket(account.account_id, "Subject", "   ")


def test_open_refund_ticket__twice_for_one_request_opens_one_ticket(office):
    # When the refund service opens the ticket of a request twice (a retry)
    account = office.account()
    first = office.admin.support.open_refund_ticket(account.account_id, "rr_1", 1250, "leaving")
    again = office.admin.support.open_refund_ticket(account.account_id, "rr_1", 1250, "leaving")
    # Then there is one refund ticket naming the request and the amount
    assert first.ticket_id == again.ticket_id
    assert (again.kind, again.reference_id, again.subject) == (TicketKind.REFUND_REQUEST, "rr_1",
                                                              "Refund request of 12.50")
    assert len(office.admin.support.tickets_of(account.account_id)) == 1


def test_rest_tickets__open_list_write_and_read_over_http(office):
    # Given a signed-in user
    headers = _bearer(office, "ann@example.com")
    with Client(app) as client:
        # When they open a ticket, write to it, and list and read their tickets
        opened = client.http.post("/v1/support/tickets", headers=headers,
                                  body=json.dumps({"subject": "Refund?", "message": "Can I get my money back?"}))
        ticket_id = json.loads(opened.body)["ticket_id"]
        added = client.http.post(f"/v1/support/tickets/{ticket_id}/messages", headers=headers,
                                 body=json.dumps({"message": "Thanks"}))
        listed = json.loads(client.http.get("/v1/support/tickets", headers=headers).body)["items"]
        read = json.loads(client.http.get(f"/v1/support/tickets/{ticket_id}", headers=headers).body)
    # Then each answer is as documented
    assert (opened.status_code, added.status_code) == (201, 201)
    assert [t["ticket_id"] for t in listed] == [ticket_id]
    assert [m["message"] for m in read["messages"]] == ["Can I get my money back?", "Thanks"]
    assert read["messages"][0]["author"] == Author.USER.value


def test_rest_tickets__someone_elses_ticket_is_404_and_no_token_is_401(office):
    # Given Ann's ticket
    ann = _bearer(office, "ann@example.com")
    bob = _bearer(office, "bob@example.com")
    with Client(app) as client:
        opened = client.http.post("/v1/support/tickets", headers=ann,
                                  body=json.dumps({"subject": "Mine", "message": "private"}))
        ticket_id = json.loads(opened.body)["ticket_id"]
        # When Bob, then nobody, asks for it
        as_bob = client.http.get(f"/v1/support/tickets/{ticket_id}", headers=bob)
        anonymous = client.http.get("/v1/support/tickets")
    # Then Bob learns nothing and the anonymous caller must sign in
    assert (as_bob.status_code, json.loads(as_bob.body)["error"]["code"]) == (404, "NOT_FOUND")
    assert anonymous.status_code == 401


def test_rest_tickets__missing_subject_is_422_naming_the_field(office):
    headers = _bearer(office, "ann@example.com")
    with Client(app) as client:
        reply = client.http.post("/v1/support/tickets", headers=headers, body=json.dumps({"message": "hi"}))
    assert reply.status_code == 422
    assert json.loads(reply.body)["error"]["details"]["field"] == "subject"
