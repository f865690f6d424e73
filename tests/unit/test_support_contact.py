"""Support for everyone (4.2): the public contact form, confirmed by an emailed link, rate limited; Reply-To on mail."""
from __future__ import annotations

import pytest

from chalicelib.domain.errors import InvalidInput, RateLimited
from chalicelib.providers.mailer import OutboxMailer, build_message
from chalicelib.services.platform.rate_limit import Limit, RateLimiter
from chalicelib.services.support.contact import CONTACT_TTL_SECONDS, HOUR, PER_EMAIL, SupportContact
from chalicelib.services.support.tickets import TicketKind, TicketStatus
from chalicelib.store.support import ContactRequest, Ticket
from tests.unit.admin_harness import ACTOR, AdminHarness

IP = "203.0.113.9"
PER_IP = Limit(5, HOUR)


@pytest.fixture
def contact(office: AdminHarness) -> SupportContact:
    return SupportContact(office.admin.support, office.mailer, "https://app.example", office.clock,
                          per_ip=RateLimiter(PER_IP, office.clock), per_email=RateLimiter(PER_EMAIL, office.clock))


def test_write__no_ticket_opens_until_the_sender_confirms_their_address(office, contact):
    # Given someone who cannot sign in
    # When they write through the contact form
    contact.write("Ann@Example.com", "Go to https://evil.example now", "I cannot sign in since yesterday.", IP)
    # Then support sees nothing yet, and the address got a link to confirm the message, without the writer's text
    assert Ticket.count() == 0
    mail = office.mailer.last_to("ann@example.com")
    assert mail.subject == "Confirm your message to SMS Rooms support"
    assert f"https://app.example/#/contact/confirm?token={mail.token}" in mail.body
    assert "evil.example" not in mail.body and "cannot sign in" not in mail.body


def test_confirm__opens_the_ticket_on_the_senders_account(office, contact):
    # Given a blocked user, who wrote through the contact form
    account = office.account("ann@example.com")
    office.admin.accounts.block("ann@example.com", "chargeback", ACTOR)
    contact.write("ann@example.com", "Why blocked?", "I never disputed a charge.", IP)
    # When they open the emailed link
    ticket = contact.confirm(office.mailer.last_to("ann@example.com").token)
    # Then support's queue has their message, on their account, and an answer is emailed to them
    assert (ticket.kind, ticket.status, ticket.account_id) == (TicketKind.CONTACT, TicketStatus.OPEN,
                                                                account.account_id)
    assert [t["ticket_id"] for t in office.admin.tickets(TicketStatus.OPEN)["items"]] == [ticket.ticket_id]
    office.admin.reply(ticket.ticket_id, "We looked again and unblocked you.", ACTOR)
    assert "unblocked you" in office.mailer.last_to("ann@example.com").body


def test_confirm__someone_without_an_account_is_answered_by_email(office, contact):
    # Given a stranger's confirmed message
    contact.write("zoe@example.org", "Prices", "Do you sell numbers in Chile?", IP)
    ticket = contact.confirm(office.mailer.last_to("zoe@example.org").token)
    # When support answers
    office.admin.reply(ticket.ticket_id, "Yes, from 0.30.", ACTOR)
    # Then the answer goes to the confirmed address, telling them to answer by email
    mail = office.mailer.last_to("zoe@example.org")
    assert "Yes, from 0.30." in mail.body and "Answer this email" in mail.body
    assert ticket.contact_email == "zoe@example.org"


def test_confirm__a_link_works_once_and_an_unconfirmed_message_expires(office, contact):
    # Given two messages, one confirmed
    contact.write("ann@example.com", "First", "One.", IP)
    first = office.mailer.last_to("ann@example.com").token
    contact.confirm(first)
    contact.write("bob@example.com", "Second", "Two.", IP)
    second = office.mailer.last_to("bob@example.com").token
    # When the first link is opened again, and the second only after a day
    office.clock.advance(CONTACT_TTL_SECONDS + 1)
    for token in (first, second, "", "x" * 500):
        with pytest.raises(InvalidInput) as refused:
            contact.confirm(token)
        # Then each is refused, and only the first message became a ticket
        assert refused.value.code == "TOKEN_INVALID"
    assert Ticket.count() == 1


@pytest.mark.parametrize(("email", "subject", "message", "field"), [
    ("not an email", "Hi", "Hello", "email"), ("ann@example.com", "   ", "Hello", "subject"),
    ("ann@example.com", "Hi", "", "message"), ("ann@example.com", "Hi", "x" * 5001, "message")])
def test_write__bad_input_is_refused_and_nothing_is_kept_or_sent(office, contact, email, subject, message, field):
    with pytest.raises(InvalidInput) as refused:
        contact.write(email, subject, message, IP)
    assert refused.value.details["field"] == field
    assert (ContactRequest.count(), office.mailer.sent) == (0, [])


def test_write__limited_per_address_and_per_ip(office, contact):
    # Given someone who writes in one address's name from many IPs, and one IP writing for many addresses
    for n in range(PER_EMAIL.requests):
        contact.write("ann@example.com", "Hi", "Hello", f"198.51.100.{n}")
    for n in range(PER_IP.requests):
        contact.write(f"user{n}@example.com", "Hi", "Hello", IP)
    # When each writes once more within the hour
    # Then both are refused, and no email goes out for them
    sent = len(office.mailer.sent)
    with pytest.raises(RateLimited):
        contact.write("ann@example.com", "Hi", "Hello", "198.51.100.99")
    with pytest.raises(RateLimited):
        contact.write("someone.else@example.com", "Hi", "Hello", IP)
    assert len(office.mailer.sent) == sent


def test_outbox_mailer__every_email_names_support_as_reply_to(tmp_path):
    # Given the mailer the process builds, with the support address
    mailer = OutboxMailer(str(tmp_path), "SMS Rooms <no-reply@x.example>", "SMS Rooms support <support@x.example>")
    # When any email goes out
    mailer.send("ann@example.com", "Your SMS Rooms account has been blocked", "Answer this email.")
    # Then answering it reaches support, not the no-reply sender
    (eml,) = tmp_path.glob("*.eml")
    assert "Reply-To: SMS Rooms support <support@x.example>" in eml.read_text()


def test_build_message__a_reply_to_with_a_line_break_is_refused():
    with pytest.raises(InvalidInput):
        build_message("a@x.example", "b@x.example", "Hi", "Body", "support@x.example\r\nBcc: evil@x.example")
