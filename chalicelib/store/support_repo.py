"""Support tickets, their numbered messages and contact-form requests (store/support.py) as values.

Adding a message is one transaction: the ticket's counter moves from n to n+1 under a condition and message n+1 is
written, so concurrent writers never lose or overwrite a message (`Refused` when another wrote first).
"""
from __future__ import annotations

from dataclasses import dataclass

from pynamodb.transactions import TransactWrite

from chalicelib.domain.support import Author, EmailStatus, TicketKind, TicketStatus
from chalicelib.store import support as rows
from chalicelib.store import values
from chalicelib.store.transaction import commit, putting
from chalicelib.store.values import row_of, value_of


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    account_id: str
    kind: TicketKind
    subject: str
    status: TicketStatus
    created_at: float
    updated_at: float
    message_count: int = 0  # messages are numbered 1..message_count
    reference_id: str | None = None  # the refund request a refund ticket is about
    contact_email: str | None = None  # a contact-form ticket: the confirmed address answers go to


@dataclass(frozen=True)
class TicketMessage:
    ticket_id: str
    seq: int
    author: Author
    body: str
    created_at: float
    actor: str | None = None  # the admin who answered
    email_status: EmailStatus | None = None  # a support answer's email (None: the user's own message)


@dataclass(frozen=True)
class ContactRequest:
    token_hash: str
    email: str
    subject: str
    body: str
    ip: str
    created_at: float
    expires_at: float


def ticket(ticket_id: str) -> Ticket | None:
    """The ticket, strongly consistent (its message counter guards the next write), or None."""
    return values.read(Ticket, rows.Ticket, ticket_id)


def tickets_of(account_id: str, limit: int | None = None) -> list[Ticket]:
    """The account's tickets, newest first."""
    found = rows.Ticket.by_account.query(account_id, scan_index_forward=False, limit=limit)
    return [value_of(Ticket, row) for row in found]


def tickets_in(status: TicketStatus, limit: int) -> list[Ticket]:
    """Tickets in `status`, longest unchanged first."""
    return [value_of(Ticket, row) for row in rows.Ticket.by_status.query(status.value, limit=limit)]


def messages(ticket_id: str, *, email_status: EmailStatus | None = None) -> list[TicketMessage]:
    """The ticket's messages in order (only those whose email is in `email_status`, when given)."""
    where = rows.TicketMessage.email_status == email_status.value if email_status else None
    return [value_of(TicketMessage, row) for row in rows.TicketMessage.query(ticket_id, filter_condition=where)]


def open_ticket(new: Ticket, first: TicketMessage) -> None:
    """The ticket and its first message together; raises store.transaction.Refused when the id is taken."""
    commit([putting(row_of(rows.Ticket, new), rows.Ticket.ticket_id.does_not_exist()),
            putting(row_of(rows.TicketMessage, first), rows.TicketMessage.seq.does_not_exist())])


def add_message(message: TicketMessage, *, after: int, status: TicketStatus) -> None:
    """Message number `after` + 1 (`message.seq`) and the ticket's new status; raises store.transaction.Refused
    when the ticket holds another count than `after` (someone wrote first)."""
    def write(tx: TransactWrite) -> None:
        tx.update(rows.Ticket(message.ticket_id), condition=rows.Ticket.message_count == after,
                  actions=[rows.Ticket.message_count.set(message.seq), rows.Ticket.status.set(status.value),
                           rows.Ticket.updated_at.set(message.created_at)])

    commit([write, putting(row_of(rows.TicketMessage, message), rows.TicketMessage.seq.does_not_exist())])


def set_email_status(ticket_id: str, seq: int, status: EmailStatus) -> None:
    rows.TicketMessage(ticket_id, seq).update(actions=[rows.TicketMessage.email_status.set(status.value)])


def overwrite_message(ticket_id: str, seq: int, body: str) -> None:
    rows.TicketMessage(ticket_id, seq).update(actions=[rows.TicketMessage.body.set(body)])


def overwrite_subject(ticket_id: str, subject: str) -> None:
    """The subject replaced and the contact address removed (consent withdrawn)."""
    rows.Ticket(ticket_id).update(actions=[rows.Ticket.subject.set(subject), rows.Ticket.contact_email.remove()])


def save_contact(request: ContactRequest) -> None:
    row_of(rows.ContactRequest, request).save()


def contact(token_hash: str) -> ContactRequest | None:
    return values.read(ContactRequest, rows.ContactRequest, token_hash)


def delete_contact(token_hash: str) -> None:
    rows.ContactRequest(token_hash).delete()
