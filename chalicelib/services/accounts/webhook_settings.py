"""The user's webhook: where we POST signed events, which event types it takes, and the secret it verifies with."""
from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass

from chalicelib.config import Settings
from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_secret
from chalicelib.domain.public_address import UnsafeHost
from chalicelib.domain.webhook_events import DEFAULT_EVENTS, EventType, stored_event_types
from chalicelib.providers.pinned_http import OutboundPolicy, Resolver, UnresolvedHost, system_resolver
from chalicelib.services.accounts.activity import ActivityKind, record_activity
from chalicelib.store import account_repo

MAX_URL_LENGTH = 2048
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class WebhookSetting:
    url: str | None
    secret: str | None
    events: frozenset[EventType] = DEFAULT_EVENTS


def webhook_policy(settings: Settings, resolver: Resolver = system_resolver) -> OutboundPolicy:
    """https to public addresses outside the local stage; loopback only where the local stage allows it."""
    return OutboundPolicy(https_only=settings.stage != "local", allow_loopback=settings.webhook_allow_loopback,
                          resolver=resolver)


def validate_webhook_url(url: str, policy: OutboundPolicy) -> str:
    """An absolute URL we may call: refused (InvalidInput INVALID_URL) with the reason, DNS answers included.

    A name that does not resolve now is accepted (DNS may come later); delivery checks it again anyway.
    """
    def invalid(why: str) -> InvalidInput:
        return InvalidInput(f"'url' {why}.", code="INVALID_URL", details={"field": "url"})

    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"must be at most {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise invalid("must be one line without control characters")
    if _SPACE.search(url):
        raise invalid("is not a URL: it contains spaces")
    try:
        policy.addresses(policy.target(url))
    except UnsafeHost as unsafe:
        raise invalid(str(unsafe)) from None
    except UnresolvedHost:
        pass
    return url


class WebhookSettings:
    def __init__(self, clock: Clock, retention_days: int, policy: OutboundPolicy) -> None:
        self.clock = clock
        self.retention_days = retention_days
        self.policy = policy

    def set(self, account: Account, url: str, *, rotate_secret: bool, ip: str,
            events: Set[EventType] | None = None) -> WebhookSetting:
        """Store the URL and the event types it takes (None: keep those chosen before, SMS only at first); the
        secret is made on first use and kept across URL changes unless rotated."""
        url = validate_webhook_url(url, self.policy)
        candidate = WEBHOOK_SECRET_PREFIX + new_secret(32)
        chosen = frozenset(events) if events is not None else stored_event_types(account.webhook_events)
        # The stored secret is kept unless rotated, as it stands at the write (not as `account` was read).
        written = account_repo.set_webhook(account.account_id, url, frozenset(e.value for e in chosen), candidate,
                                           replace_secret=rotate_secret)
        secret = written.webhook_secret
        record_activity(account.account_id, ActivityKind.WEBHOOK_CHANGED, ip,
                        {"url": url, "new_secret": secret == candidate, "events": sorted(e.value for e in chosen)},
                        clock=self.clock, retention_days=self.retention_days)
        return WebhookSetting(url=url, secret=secret, events=chosen)

    def clear(self, account: Account, ip: str) -> None:
        account_repo.change(account.account_id, dict.fromkeys(("webhook_url", "webhook_secret", "webhook_events")))
        record_activity(account.account_id, ActivityKind.WEBHOOK_CHANGED, ip, {"url": None},
                        clock=self.clock, retention_days=self.retention_days)


def webhook_of(account: Account) -> WebhookSetting:
    return WebhookSetting(url=account.webhook_url, secret=account.webhook_secret,
                          events=stored_event_types(account.webhook_events))
