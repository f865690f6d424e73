"""Support tickets, their numbered messages and contact-form requests (store/support.py) as values.

Adding a message is one transaction: the ticket's counter moves from n to n+1 under a condition and message n+1 is
written, so concurrent writers never lose or overwrite a message (`Refused` when another wrote first).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.transactions import TransactWrite

from chalicelib.store import support as rows
from chalicelib.store.transaction import commit


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    account_id: str
    kind: str  # services.support.tickets.TicketKind value
    subject: str
    status: str  # services.support.tickets.TicketStatus value
    created_at: float
    updated_at: float
    message_count: int = 0  # messages are numbered 1..message_count
    reference_id: str | None = None  # the refund request a refund ticket is about
    contact_email: str | None = None  # a contact-form ticket: the confirmed address answers go to


@dataclass(frozen=True)
class TicketMessage:
    ticket_id: str
    seq: int
    author: str  # "user" | "support"
    body: str
    created_at: float
    actor: str | None = None  # the admin who answered
    email_status: str | None = None  # a support answer's email: "pending", "queued" or "sent"


@dataclass(frozen=True)
class ContactRequest:
    token_hash: str
    email: str
    subject: str
    body: str
    ip: str
    created_at: float
    expires_at: float


def _ticket(row: rows.Ticket) -> Ticket:
    return Ticket(ticket_id=row.ticket_id, account_id=row.account_id, kind=row.kind, subject=row.subject,
                  status=row.status, created_at=float(row.created_at), updated_at=float(row.updated_at),
                  message_count=int(row.message_count), reference_id=row.reference_id,
                  contact_email=row.contact_email)


def _message(row: rows.TicketMessage) -> TicketMessage:
    return TicketMessage(ticket_id=row.ticket_id, seq=int(row.seq), author=row.author, body=row.body,
                         created_at=float(row.created_at), actor=row.actor, email_status=row.email_status)


def _message_row(m: TicketMessage) -> rows.TicketMessage:
    return rows.TicketMessage(m.ticket_id, m.seq, author=m.author, actor=m.actor, body=m.body,
                              created_at=m.created_at, email_status=m.email_status)


def ticket(ticket_id: str) -> Ticket | None:
    """The ticket, strongly consistent (its message counter guards the next write), or None."""
    try:
        return _ticket(rows.Ticket.get(ticket_id, consistent_read=True))
    except rows.Ticket.DoesNotExist:
        return None


def tickets_of(account_id: str, limit: int | None = None) -> list[Ticket]:
    """The account's tickets, newest first."""
    return [_ticket(row) for row in rows.Ticket.by_account.query(account_id, scan_index_forward=False, limit=limit)]


def tickets_in(status: str, limit: int) -> list[Ticket]:
    """Tickets in `status`, longest unchanged first."""
    return [_ticket(row) for row in rows.Ticket.by_status.query(status, limit=limit)]


def messages(ticket_id: str, *, email_status: str | None = None) -> list[TicketMessage]:
    """The ticket's messages in order (only those whose email is in `email_status`, when given)."""
    where = rows.TicketMessage.email_status == email_status if email_status else None
    return [_message(row) for row in rows.TicketMessage.query(ticket_id, filter_condition=where)]


def open_ticket(new: Ticket, first: TicketMessage) -> None:
    """The ticket and its first message together; raises store.transaction.Refused when the id is taken."""
    row = rows.Ticket(new.ticket_id, account_id=new.account_id, kind=new.kind, subject=new.subject,
                      status=new.status, reference_id=new.reference_id, message_count=new.message_count,
                      created_at=new.created_at, updated_at=new.updated_at, contact_email=new.contact_email)

    def write(tx: TransactWrite) -> None:
        tx.save(row, condition=rows.Ticket.ticket_id.does_not_exist())
        tx.save(_message_row(first), condition=rows.TicketMessage.seq.does_not_exist())

    commit([write])


def add_message(message: TicketMessage, *, after: int, status: str) -> None:
    """Message number `after` + 1 (`message.seq`) and the ticket's new status; raises store.transaction.Refused
    when the ticket holds another count than `after` (someone wrote first)."""
    def write(tx: TransactWrite) -> None:
        tx.update(rows.Ticket(message.ticket_id), condition=rows.Ticket.message_count == after,
                  actions=[rows.Ticket.message_count.set(message.seq), rows.Ticket.status.set(status),
                           rows.Ticket.updated_at.set(message.created_at)])
        tx.save(_message_row(message), condition=rows.TicketMessage.seq.does_not_exist())

    commit([write])


def set_email_status(ticket_id: str, seq: int, status: str) -> None:
    rows.TicketMessage(ticket_id, seq).update(actions=[rows.TicketMessage.email_status.set(status)])


def overwrite_message(ticket_id: str, seq: int, body: str) -> None:
    rows.TicketMessage(ticket_id, seq).update(actions=[rows.TicketMessage.body.set(body)])


def overwrite_subject(ticket_id: str, subject: str) -> None:
    """The subject replaced and the contact address removed (consent withdrawn)."""
    rows.Ticket(ticket_id).update(actions=[rows.Ticket.subject.set(subject), rows.Ticket.contact_email.remove()])


def save_contact(request: ContactRequest) -> None:
    rows.ContactRequest(request.token_hash, email=request.email, subject=request.subject, body=request.body,
                        ip=request.ip, created_at=request.created_at,
                        expires_at=datetime.fromtimestamp(request.expires_at, tz=UTC)).save()


def contact(token_hash: str) -> ContactRequest | None:
    try:
        row = rows.ContactRequest.get(token_hash, consistent_read=True)
    except rows.ContactRequest.DoesNotExist:
        return None
    return ContactRequest(token_hash=row.token_hash, email=row.email, subject=row.subject, body=row.body, ip=row.ip,
                          created_at=float(row.created_at), expires_at=row.expires_at.timestamp())


def delete_contact(token_hash: str) -> None:
    rows.ContactRequest(token_hash).delete()
