"""Users' webhooks: events queued in the transaction of the change they tell of (webhook_outbox.py), POSTed signed.

Delivery is at least once: an event is leased (its next attempt pushed past the lease) before it is
sent, marked delivered after a 2xx, otherwise retried with exponential backoff until it is given up.
The body is signed with the account's webhook secret: header `X-SmsRooms-Signature` carries the hex
HMAC-SHA256 of the exact body, so the receiver recomputes it over the raw bytes it got; `X-SmsRooms-Event-Id`
is the same for every delivery of one event (deduplicate by it). An event waits while the event before it on its
stream (the same activation, the balance) is still pending, so a receiver sees a stream in sequence order.
Each attempt checks the URL again (DNS may answer otherwise than when it was saved) and connects to the address
it checked.
"""
from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Mapping
from dataclasses import replace

from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock
from chalicelib.domain.ids import hmac_sha256_hex
from chalicelib.domain.public_address import IpAddress, UnsafeHost
from chalicelib.domain.webhook_events import BALANCE_STREAM, EventType, stored_event_types
from chalicelib.observability import logger
from chalicelib.providers.pinned_http import OutboundPolicy, Target, UnresolvedHost, post_pinned
from chalicelib.services.platform import outbox
from chalicelib.store import account_repo, outbox_repo, webhook_repo
from chalicelib.store.outbox_repo import Queue, WebhookDelivery

Sender = Callable[..., int]  # post_pinned's shape: (target, address, body, headers, *, timeout_seconds) -> status
SIGNATURE_HEADER = "X-SmsRooms-Signature"
DELIVERY_HEADER = "X-SmsRooms-Delivery"
EVENT_ID_HEADER = "X-SmsRooms-Event-Id"
EVENT_HEADER = "X-SmsRooms-Event"
_BATCH = 100
_BALANCE_LOOKBACK = 50
_WAIT_BEHIND_SECONDS = 1.0


def _complete_balance(delivery: WebhookDelivery, account: Account) -> WebhookDelivery:
    """A balance event queued by a read-free posting lacks the balance after it: sealed and written in now."""
    from chalicelib.store.money import seal_ledger  # the money's store, asked only for these events

    body = json.loads(delivery.body)
    if "balance_cents" in body or delivery.sequence is None:
        return delivery
    seal_ledger(delivery.account_id)
    balance = webhook_repo.balance_after(delivery.account_id, delivery.sequence)
    if balance is None:
        return delivery
    body["balance_cents"] = balance
    body["held_cents"] = account.held_cents
    body["available_cents"] = balance - account.held_cents
    completed = json.dumps(body, separators=(",", ":"))
    outbox_repo.change(Queue.WEBHOOKS, delivery.delivery_id, {"body": completed})
    return replace(delivery, body=completed)


class UserWebhooks:
    def __init__(self, clock: Clock, policy: OutboundPolicy, send: Sender = post_pinned, *, shards: int,
                 max_attempts: int = 8, first_backoff_seconds: float = 5.0, timeout_seconds: float = 3.0) -> None:
        self.clock = clock
        self.policy = policy
        self.send = send
        self.shards = shards
        self.max_attempts = max_attempts
        self.first_backoff_seconds = first_backoff_seconds
        self.timeout_seconds = timeout_seconds

    def deliver_due(self) -> int:
        """Attempt every delivery whose time has come, each stream in sequence order; the count delivered."""
        due: list[WebhookDelivery] = outbox.due_items(Queue.WEBHOOKS, self.clock.now(), self.shards, _BATCH)
        due.sort(key=lambda d: (d.created_at, d.sequence or 0))
        return sum(self._attempt(delivery) for delivery in due)

    def _attempt(self, delivery: WebhookDelivery) -> bool:
        if not self._lease(delivery):
            return False
        account = account_repo.read(delivery.account_id, consistent=False)
        if account is None:
            self._settle(delivery, "failed", "account gone", attempts=delivery.attempts)
            return False
        if not account.webhook_url or not account.webhook_secret:
            self._settle(delivery, "failed", "webhook removed", attempts=delivery.attempts)
            return False
        if not self._still_wanted(delivery, account):
            self._settle(delivery, "skipped", "the webhook no longer takes this event type",
                         attempts=delivery.attempts)
            return False
        if self._behind_earlier_event(delivery):
            return False
        if delivery.event_type == EventType.BALANCE_CHANGED.value:
            delivery = _complete_balance(delivery, account)
        error, status = self._post(account.webhook_url, account.webhook_secret, delivery)
        seen: dict[str, object] = {"url": account.webhook_url}
        if status is not None:
            seen["last_status_code"] = status
        if error is None:
            self._settle(delivery, "delivered", None, {**seen, "delivered_at": self.clock.now()})
            return True
        self._retry_later(delivery, error, seen)
        return False

    def _still_wanted(self, delivery: WebhookDelivery, account: Account) -> bool:
        """An unsubscribed event type is not sent, even when queued before; a redelivery was asked for by name."""
        if delivery.redelivery_of or not delivery.event_type:
            return True
        return delivery.event_type in {t.value for t in stored_event_types(account.webhook_events)}

    def _behind_earlier_event(self, delivery: WebhookDelivery) -> bool:
        """Whether the stream's previous event is still to be sent: then this one waits (its attempt not counted).

        An activation's event names the delivery before it (one GetItem). The balance's postings read nothing, so
        they cannot: the account's log is asked for a pending balance event queued before this one, among the
        last _BALANCE_LOOKBACK deliveries (one Query)."""
        earlier = self._earlier_pending(delivery)
        if earlier is None:
            return False
        wait_until = max(earlier.next_attempt_at, self.clock.now()) + _WAIT_BEHIND_SECONDS
        waiting = f"waiting for {earlier.event_id or 'an earlier event'}"
        outbox_repo.change(Queue.WEBHOOKS, delivery.delivery_id, {"next_attempt_at": wait_until, "last_error": waiting})
        return True

    def _earlier_pending(self, delivery: WebhookDelivery) -> WebhookDelivery | None:
        if delivery.after_delivery_id:
            earlier: WebhookDelivery | None = outbox_repo.get(Queue.WEBHOOKS, delivery.after_delivery_id)
            return earlier if earlier is not None and earlier.status == "pending" else None
        if delivery.stream != BALANCE_STREAM or delivery.redelivery_of or not delivery.log_key:
            return None
        return webhook_repo.pending_balance_event_before(delivery.account_id, delivery.log_key, _BALANCE_LOOKBACK)

    def _post(self, url: str, secret: str, delivery: WebhookDelivery) -> tuple[str | None, int | None]:
        """Checked again at every attempt: the URL was checked at save, but DNS may answer otherwise now."""
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: hmac_sha256_hex(body, secret),
                   DELIVERY_HEADER: delivery.delivery_id,
                   EVENT_HEADER: delivery.event_type or EventType.SMS_RECEIVED.value}
        if delivery.event_id:
            headers[EVENT_ID_HEADER] = delivery.event_id
        try:
            target = self.policy.target(url)
            addresses = self.policy.addresses(target)
        except UnsafeHost as unsafe:
            return f"refused: the URL {unsafe}", None
        except UnresolvedHost:
            return "the host name does not resolve", None
        return self._post_first_reachable(target, addresses, body, headers)

    def _post_first_reachable(self, target: Target, addresses: list[IpAddress], body: bytes,
                              headers: dict[str, str]) -> tuple[str | None, int | None]:
        error = "no address"
        for address in addresses:
            try:
                status = self.send(target, address, body, headers, timeout_seconds=self.timeout_seconds)
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                continue
            return (None if 200 <= status < 300 else f"HTTP {status}"), status
        return error, None

    def _lease(self, delivery: WebhookDelivery) -> bool:
        return outbox.lease(Queue.WEBHOOKS, delivery, self.clock)

    def _retry_later(self, delivery: WebhookDelivery, error: str, seen: Mapping[str, object]) -> None:
        if not outbox.retry_later(Queue.WEBHOOKS, delivery, self.clock, error, max_attempts=self.max_attempts,
                                  first_backoff_seconds=self.first_backoff_seconds, also=seen):
            logger.warning("user webhook given up", extra={"delivery_id": delivery.delivery_id, "error": error})

    def _settle(self, delivery: WebhookDelivery, status: str, error: str | None, seen: Mapping[str, object] = {}, *,
                attempts: int | None = None) -> None:
        """`attempts`: given when settled without a POST (not counted); None counts this attempt."""
        if status == "failed":
            logger.warning("user webhook given up", extra={"delivery_id": delivery.delivery_id, "error": error})
        outbox.settle(Queue.WEBHOOKS, delivery, self.clock, status, error, attempts, also=seen)
