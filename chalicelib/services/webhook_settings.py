"""The user's SMS webhook: where we POST signed events, and the secret they verify our signature with."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_secret
from chalicelib.services.activity import ActivityKind, record_activity
from chalicelib.store.accounts import Account

MAX_URL_LENGTH = 2048
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class WebhookSetting:
    url: str | None
    secret: str | None


def validate_webhook_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it; raises InvalidInput (INVALID_URL)."""
    def invalid(why: str) -> InvalidInput:
        return InvalidInput(f"'url' {why}.", code="INVALID_URL", details={"field": "url"})

    if len(url) > MAX_URL_LENGTH or _UNSAFE.search(url):
        raise invalid(f"must be one line of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (parsing the port raises on a malformed one)
    except ValueError:
        raise invalid("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise invalid("must not carry a user name or password")
    return url


class WebhookSettings:
    def __init__(self, clock: Clock, retention_days: int) -> None:
        self.clock = clock
        self.retention_days = retention_days

    def set(self, account: Account, url: str, *, rotate_secret: bool, ip: str) -> WebhookSetting:
        """Store the URL; the secret is made on first use and kept across URL changes unless rotated."""
        url = validate_webhook_url(url)
        new_secret_needed = account.webhook_secret is None or rotate_secret
        secret = WEBHOOK_SECRET_PREFIX + new_secret(32) if new_secret_needed else account.webhook_secret
        account.update(actions=[Account.webhook_url.set(url), Account.webhook_secret.set(secret)])
        record_activity(account.account_id, ActivityKind.WEBHOOK_CHANGED, ip,
                        {"url": url, "new_secret": new_secret_needed},
                        clock=self.clock, retention_days=self.retention_days)
        return WebhookSetting(url=url, secret=secret)

    def clear(self, account: Account, ip: str) -> None:
        account.update(actions=[Account.webhook_url.remove(), Account.webhook_secret.remove()])
        record_activity(account.account_id, ActivityKind.WEBHOOK_CHANGED, ip, {"url": None},
                        clock=self.clock, retention_days=self.retention_days)


def webhook_of(account: Account) -> WebhookSetting:
    return WebhookSetting(url=account.webhook_url, secret=account.webhook_secret)
