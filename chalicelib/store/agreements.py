"""Published agreement versions (13.1): the text, its hash, when it was published and takes effect, and how far
the email telling every user about it has gone."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.base import table

NOTICE_DUE = "due"


class NoticesDue(GlobalSecondaryIndex["AgreementVersion"]):
    """Sparse: only versions whose emails are still being queued carry `notice_due`."""

    class Meta:
        index_name = "notice_due"
        projection = KeysOnlyProjection()

    notice_due = UnicodeAttribute(hash_key=True)
    published_at = NumberAttribute(range_key=True)


@table("agreements")
class AgreementVersion(Model):
    class Meta:
        table_name = "agreements"

    version = UnicodeAttribute(hash_key=True)  # "2", "3"…: the bundled files hold the earlier ones
    text = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    effective_on = UnicodeAttribute()  # YYYY-MM-DD, UTC: continued use from that day counts as acceptance
    published_at = NumberAttribute()
    published_by = UnicodeAttribute()
    # The notice job's place in the accounts table (a scan's LastEvaluatedKey as JSON; absent: from the start)
    # and how many emails it queued; `notice_due` goes when every account was seen.
    notice_cursor = UnicodeAttribute(null=True)
    notices_queued = NumberAttribute(default=0)
    notice_done_at = NumberAttribute(null=True)
    notice_due = UnicodeAttribute(null=True)
    notices_due = NoticesDue()
