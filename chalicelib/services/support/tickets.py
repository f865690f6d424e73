"""Support tickets (agreement 4.2, 6.3): users write, support answers and the user is emailed each answer.
(Over 250 lines on purpose: every path, the user's and support's, shares the one numbered-message transaction.)

A ticket is a numbered conversation; adding a message is one transaction (the ticket's counter moves
from n to n+1 and message n+1 is written), so concurrent writers never lose or overwrite a message.
A refund request (6.3) is a ticket of its own kind, opened by the refund service under a ticket id
derived from the request id, so opening it twice opens it once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.errors import AlreadyApplied, Conflict, InvalidInput, NotFound
from chalicelib.domain.ids import new_id
from chalicelib.domain.money import format_major
from chalicelib.domain.support import Author, EmailStatus, TicketKind, TicketStatus
from chalicelib.observability import logger
from chalicelib.providers.mailer import Mailer
from chalicelib.services.platform.mail_outbox import is_queued
from chalicelib.store import account_repo, support_repo, transaction
from chalicelib.store.support_repo import Ticket, TicketMessage

SUBJECT_MAX = 200
MESSAGE_MAX = 5000
_ADD_ATTEMPTS = 5


@dataclass(frozen=True)
class MessageView:
    seq: int
    author: Author
    body: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "author": self.author.value, "message": self.body,
                "created_at": iso(self.created_at)}


@dataclass(frozen=True)
class TicketView:
    ticket_id: str
    account_id: str
    kind: TicketKind
    subject: str
    status: TicketStatus
    reference_id: str | None
    created_at: float
    updated_at: float
    messages: list[MessageView] = field(default_factory=list)
    contact_email: str | None = None

    def to_json(self) -> dict[str, Any]:
        contact = {"contact_email": self.contact_email} if self.contact_email else {}
        return {"ticket_id": self.ticket_id, "kind": self.kind.value, "subject": self.subject,
                "status": self.status.value, "reference_id": self.reference_id,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
                "messages": [m.to_json() for m in self.messages], **contact}


@dataclass(frozen=True)
class Answered:
    """Support's answer: the ticket as it stands now, and whether the user's email went out."""

    ticket: TicketView
    email: EmailStatus


class SupportDesk:
    def __init__(self, mailer: Mailer, public_base_url: str, clock: Clock) -> None:
        self.mailer = mailer
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock

    def open_ticket(self, account_id: str, subject: str, message: str) -> TicketView:
        """A user's new ticket with its first message; support's turn."""
        return self._open(new_id("tkt"), account_id, TicketKind.SUPPORT, _subject(subject), _body(message), None)

    def open_contact_ticket(self, ticket_id: str, account_id: str, email: str, subject: str,
                            message: str) -> TicketView:
        """A contact-form message whose sender confirmed `email`; opening it again returns the first one."""
        try:
            return self._open(ticket_id, account_id, TicketKind.CONTACT, _subject(subject), _body(message), None,
                              contact_email=email)
        except AlreadyApplied:
            return self._view(_ticket(ticket_id))

    def open_refund_ticket(self, account_id: str, request_id: str, amount_cents: int, reason: str) -> TicketView:
        """The ticket of a refund request (6.3); opening it again for the same request returns the first one."""
        subject = f"Refund request of {format_major(amount_cents)}"
        try:
            return self._open(f"tkt_{request_id}", account_id, TicketKind.REFUND_REQUEST, subject,
                              _body(reason), request_id)
        except AlreadyApplied:
            return self._view(_ticket(f"tkt_{request_id}"))

    def add_user_message(self, account_id: str, ticket_id: str, message: str) -> MessageView:
        ticket = self._owned(account_id, ticket_id)
        return self._add(ticket, Author.USER, None, _body(message), TicketStatus.OPEN)

    def tickets_of(self, account_id: str, limit: int = 50) -> list[TicketView]:
        """The user's tickets with their messages, newest first."""
        return [self._view(t) for t in support_repo.tickets_of(account_id, limit)]

    def ticket_of(self, account_id: str, ticket_id: str) -> TicketView:
        return self._view(self._owned(account_id, ticket_id))

    def queue(self, status: TicketStatus | None, limit: int = 100) -> list[TicketView]:
        """Support's list: tickets in `status` (every ticket when None), longest waiting first."""
        statuses = [status] if status else list(TicketStatus)
        found = [t for s in statuses for t in support_repo.tickets_in(s, limit)]
        return [self._view(t) for t in sorted(found, key=lambda t: t.updated_at)[:limit]]

    def ticket(self, ticket_id: str) -> TicketView:
        return self._view(_ticket(ticket_id))

    def reply(self, ticket_id: str, message: str, actor: str) -> Answered:
        """Support's answer, stored; then the user is emailed it. A refused email leaves the answer stored and
        its email pending, which the outcome says (`email`) and resend_pending_emails retries."""
        ticket = _ticket(ticket_id)
        reply = self._add(ticket, Author.SUPPORT, actor, _body(message), TicketStatus.ANSWERED)
        email = self._email_reply(ticket, reply)
        return Answered(self._view(_ticket(ticket_id)), email)

    def resend_pending_emails(self, ticket_id: str) -> list[int]:
        """Email every answer of the ticket whose email is still pending, oldest first; the numbers of those
        sent now. The first refusal stops the run (the rest stay pending, in order)."""
        ticket = _ticket(ticket_id)
        sent: list[int] = []
        for message in support_repo.messages(ticket_id, email_status=EmailStatus.PENDING):
            if self._email_reply(ticket, _message_view(message)) is EmailStatus.PENDING:
                break
            sent.append(message.seq)
        return sent

    def pending_emails(self, ticket_id: str) -> list[int]:
        """The numbers of the ticket's answers whose email has not gone out."""
        return [m.seq for m in support_repo.messages(ticket_id, email_status=EmailStatus.PENDING)]

    def _open(self, ticket_id: str, account_id: str, kind: TicketKind, subject: str, body: str,
              reference_id: str | None, *, contact_email: str | None = None) -> TicketView:
        now = self.clock.now()
        ticket = Ticket(ticket_id, account_id=account_id, kind=kind, subject=subject,
                        status=TicketStatus.OPEN, reference_id=reference_id, message_count=1,
                        created_at=now, updated_at=now, contact_email=contact_email)
        first = TicketMessage(ticket_id, 1, author=Author.USER, body=body, created_at=now)
        try:
            support_repo.open_ticket(ticket, first)
        except transaction.Refused as refused:
            if transaction.CONDITION_FAILED not in refused.codes:
                raise
            raise AlreadyApplied(f"Ticket {ticket_id} already exists.") from None
        return self._view(ticket, [first])

    def _add(self, ticket: Ticket, author: Author, actor: str | None, body: str,
             status: TicketStatus) -> MessageView:
        for _ in range(_ADD_ATTEMPTS):
            seq = ticket.message_count + 1
            message = TicketMessage(ticket.ticket_id, seq, author=author, actor=actor, body=body,
                                    created_at=self.clock.now(),
                                    email_status=EmailStatus.PENDING if author is Author.SUPPORT else None)
            try:
                support_repo.add_message(message, after=ticket.message_count, status=status)
                return _message_view(message)
            except transaction.Refused:
                ticket = _ticket(ticket.ticket_id)  # someone else wrote first: take the next number
        raise Conflict("The ticket is busy; try again.")

    def _owned(self, account_id: str, ticket_id: str) -> Ticket:
        ticket = _ticket(ticket_id)
        if ticket.account_id != account_id:
            raise NotFound("There is no such ticket.")  # not Forbidden: ticket ids are not to be probed
        return ticket

    def _view(self, ticket: Ticket, messages: list[TicketMessage] | None = None) -> TicketView:
        found = messages if messages is not None else support_repo.messages(ticket.ticket_id)
        return TicketView(ticket_id=ticket.ticket_id, account_id=ticket.account_id, kind=TicketKind(ticket.kind),
                          subject=ticket.subject, status=TicketStatus(ticket.status),
                          reference_id=ticket.reference_id, created_at=ticket.created_at,
                          updated_at=ticket.updated_at, messages=[_message_view(m) for m in found],
                          contact_email=ticket.contact_email)

    def _email_reply(self, ticket: Ticket, reply: MessageView) -> EmailStatus:
        """What became of the answer's email (no one to write to counts as sent), recorded on the answer."""
        address, how = self._reply_address(ticket)
        status = EmailStatus.SENT
        if address:
            body = f"Support answered your ticket \"{ticket.subject}\" ({ticket.ticket_id}):\n\n{reply.body}\n\n{how}\n"
            try:
                status = EmailStatus.QUEUED if is_queued(self.mailer.send(address, f"Re: {ticket.subject}", body)) \
                    else EmailStatus.SENT
            except Exception as error:  # neither sent nor queued (the outbox down too, a header): the answer stands
                logger.warning("support answer not emailed", extra={"ticket_id": ticket.ticket_id, "seq": reply.seq,
                                                                    "error": type(error).__name__})
                return EmailStatus.PENDING
        support_repo.set_email_status(ticket.ticket_id, reply.seq, status)
        return status

    def _reply_address(self, ticket: Ticket) -> tuple[str | None, str]:
        """Where an answer goes, and how its reader writes back: a contact-form ticket's sender, or the account."""
        if ticket.contact_email:
            return ticket.contact_email, "Answer this email to write back to us."
        account = account_repo.read(ticket.account_id, consistent=False)
        if account is None:
            return None, ""
        return account.email, (f"Sign in at {self.public_base_url}/ to read the whole conversation and answer, "
                       "or answer this email.")


def _ticket(ticket_id: str) -> Ticket:
    found = support_repo.ticket(ticket_id)
    if found is None:
        raise NotFound("There is no such ticket.")
    return found


def _message_view(m: TicketMessage) -> MessageView:
    return MessageView(seq=m.seq, author=Author(m.author), body=m.body, created_at=m.created_at)


def check_subject_and_message(subject: str, message: str) -> tuple[str, str]:
    """Both as they will be stored; raises InvalidInput naming the field."""
    return _subject(subject), _body(message)


def _subject(value: str) -> str:
    return _limited(" ".join(value.split()), "subject", SUBJECT_MAX)  # one line: it becomes an email subject


def _body(value: str) -> str:
    return _limited(value.strip(), "message", MESSAGE_MAX)


def _limited(value: str, name: str, maximum: int) -> str:
    if not value:
        raise InvalidInput(f"'{name}' must not be empty.", details={"field": name})
    if len(value) > maximum:
        raise InvalidInput(f"'{name}' is longer than {maximum} characters.", details={"field": name})
    return value
