"""Rate-limit windows: one counter item per client per fixed window, removed by TTL once the window is over."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.store.base import table


@table("rate_windows")
class RateWindow(Model):
    class Meta:
        table_name = "rate_windows"

    bucket = UnicodeAttribute(hash_key=True)  # "<client identity>#<window index>"
    hits = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)
