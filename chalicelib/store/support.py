"""Support tickets and their messages (agreement 4.2, 6.3): a ticket is a conversation between a user and support."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.base import table


class TicketsByAccount(GlobalSecondaryIndex["Ticket"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class TicketsByStatus(GlobalSecondaryIndex["Ticket"]):
    """Support's queue: the open tickets, oldest activity first."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


@table("tickets")
class Ticket(Model):
    class Meta:
        table_name = "tickets"

    ticket_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # services.support.TicketKind value
    subject = UnicodeAttribute()
    status = UnicodeAttribute()  # services.support.TicketStatus value
    reference_id = UnicodeAttribute(null=True)  # the refund request a refund ticket is about
    contact_email = UnicodeAttribute(null=True)  # a contact-form ticket: the confirmed address answers go to
    message_count = NumberAttribute(default=0)  # messages are numbered 1..message_count; the add guard
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    by_account = TicketsByAccount()
    by_status = TicketsByStatus()


@table("ticket_messages")
class TicketMessage(Model):
    class Meta:
        table_name = "ticket_messages"

    ticket_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    author = UnicodeAttribute()  # "user" | "support"
    actor = UnicodeAttribute(null=True)  # the admin who answered
    body = UnicodeAttribute()
    created_at = NumberAttribute()
    # A support answer's email: "pending" from the write until the mailer took it, then "sent"; absent on
    # the user's own messages (and on answers written before emails were tracked, all of which were sent).
    email_status = UnicodeAttribute(null=True)


@table("support_contacts")
class ContactRequest(Model):
    """A message written through the public contact form, waiting for its sender to confirm their email.

    Keyed by the hash of the emailed token; unconfirmed requests expire (TTL) and never become tickets.
    """

    class Meta:
        table_name = "support_contacts"

    token_hash = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    ip = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = TTLAttribute()
