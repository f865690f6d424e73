"""The mail outbox: a message the sender refused, kept until it is sent or given up."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.base import table


class DueMail(GlobalSecondaryIndex["QueuedMail"]):
    """Sparse: only messages still to be sent carry `due`."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    due = UnicodeAttribute(hash_key=True)
    next_attempt_at = NumberAttribute(range_key=True)


@table("mail_outbox")
class QueuedMail(Model):
    class Meta:
        table_name = "mail_outbox"

    mail_id = UnicodeAttribute(hash_key=True)
    to = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute(null=True)  # removed once settled: its links carry one-time tokens
    status = UnicodeAttribute(default="pending")  # pending | sent | failed
    attempts = NumberAttribute(default=1)  # the first, refused, send counts
    next_attempt_at = NumberAttribute()
    due = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # set once settled
    due_mail = DueMail()
