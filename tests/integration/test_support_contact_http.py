"""Support for everyone (agreement 4.2) over real HTTP: someone signed out, or blocked, writes through the public
contact form; the ticket opens once they confirm their address; every email answers to the support mailbox."""
from __future__ import annotations

import requests

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.support.tickets import SupportDesk
from infra.local.stack import Stack
from tests.integration.helpers_security import emails_to, link_token, unique_email
from tests.support import client_at, customer_with_key

ACTOR = "support@sms-rooms"


def _mailer(stack: Stack, settings: Settings) -> OutboxMailer:
    """The stack's outbox, as the app and the admin Lambda send to it."""
    return OutboxMailer(str(stack.outbox), settings.mail_from, settings.support_email)


def _write(client: requests.Session, stack: Stack, email: str, subject: str = "Help") -> requests.Response:
    return client.post(f"{stack.app_url}/v1/support/contact", timeout=30,
                       json={"email": email, "subject": subject, "message": "I cannot sign in."})


def test_contact__a_stranger_writes_confirms_and_is_answered_by_email(stack: Stack, stack_settings: Settings) -> None:
    # Given someone with no account and no session
    client, email = client_at("127.0.0.61"), unique_email()
    # When they write through the contact form
    written = _write(client, stack, email, "Numbers in Chile?")
    # Then nothing reaches support until they open the emailed link, which opens the ticket once
    assert (written.status_code, written.json()["status"]) == (202, "confirmation_sent")
    token = link_token(stack.outbox, email, "Confirm your message")
    confirmed = client.post(f"{stack.app_url}/v1/support/contact/confirm", json={"token": token}, timeout=30)
    again = client.post(f"{stack.app_url}/v1/support/contact/confirm", json={"token": token}, timeout=30)
    assert confirmed.status_code == 201 and again.status_code == 422
    # When support answers the ticket
    desk = SupportDesk(_mailer(stack, stack_settings), stack.app_url, SystemClock())
    desk.reply(confirmed.json()["ticket_id"], "Yes, from $0.30.", actor=ACTOR)
    # Then the answer reaches them, and answering it (like every email we send) reaches support
    messages = emails_to(stack.outbox, email)
    assert "Yes, from $0.30." in str(messages[-1].get_content())
    assert {str(m["Reply-To"]) for m in messages} == {stack_settings.support_email}


def test_contact__a_blocked_user_can_write_and_their_block_email_answers_to_support(
        stack: Stack, stack_settings: Settings) -> None:
    # Given a customer an admin blocked (their block email says "answer this email")
    customer = customer_with_key(stack_settings)
    mailer = _mailer(stack, stack_settings)
    admin = wiring.build_admin_service(stack_settings, wiring.clock(), mailer, wiring.partners(),
                                       wiring.stripe_gateway())
    admin.accounts.block(customer.email, "chargeback", ACTOR)
    (block_email,) = [m for m in emails_to(stack.outbox, customer.email) if "blocked" in str(m["Subject"])]
    assert "answer this email" in str(block_email.get_content())
    assert str(block_email["Reply-To"]) == stack_settings.support_email
    # When they write through the contact form and confirm (they cannot sign in)
    client = client_at("127.0.0.62")
    assert _write(client, stack, customer.email, "Why was I blocked?").status_code == 202
    token = link_token(stack.outbox, customer.email, "Confirm your message")
    ticket = client.post(f"{stack.app_url}/v1/support/contact/confirm", json={"token": token}, timeout=30).json()
    # Then support's queue holds their message, on their account
    opened = admin.tickets(None)["items"]
    (mine,) = [t for t in opened if t["ticket_id"] == ticket["ticket_id"]]
    assert mine["subject"] == "Why was I blocked?" and mine["kind"] == "contact"


def test_contact__limited_per_address_and_refuses_bad_input_without_writing(stack: Stack) -> None:
    # Given someone writing again and again in one address's name, each time from another IP
    email = unique_email()
    replies = [_write(client_at(f"127.0.1.{n}"), stack, email) for n in range(1, 6)]
    # Then after three messages an hour they are refused with a Retry-After, and only three emails went out
    assert [r.status_code for r in replies] == [202, 202, 202, 429, 429]
    assert int(replies[-1].headers["Retry-After"]) > 0
    assert len(emails_to(stack.outbox, email)) == 3
    # And bad input is refused field by field
    client = client_at("127.0.0.63")
    bad = [client.post(f"{stack.app_url}/v1/support/contact", json=body, timeout=30) for body in (
        {"email": "not an email", "subject": "Hi", "message": "Hello"},
        {"email": unique_email(), "subject": "Hi"},
        {"email": unique_email(), "subject": "Hi", "message": "x" * 5001})]
    assert [(r.status_code, r.json()["error"]["details"]["field"]) for r in bad] == [
        (422, "email"), (422, "message"), (422, "message")]
