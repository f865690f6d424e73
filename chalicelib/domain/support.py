"""A support ticket's kinds and states, who writes its messages, and what became of an answer's email."""
from __future__ import annotations

import enum


class TicketKind(str, enum.Enum):
    SUPPORT = "support"
    CONTACT = "contact"  # written signed out, through the public contact form, once the email was confirmed
    REFUND_REQUEST = "refund_request"


class TicketStatus(str, enum.Enum):
    OPEN = "open"  # the user wrote last: support's turn
    ANSWERED = "answered"  # support wrote last: the user's turn


class Author(str, enum.Enum):
    USER = "user"
    SUPPORT = "support"


class EmailStatus(str, enum.Enum):
    PENDING = "pending"  # written, the mailer has not taken it (yet, or it could neither send nor queue it)
    QUEUED = "queued"  # the mail service refused it for now: the mail outbox's deliver_mail job sends it
    SENT = "sent"
