"""Users' SMS webhooks: events queued in the transaction that records the SMS, then POSTed signed, with retries.

Delivery is at least once: an event is leased (its next attempt pushed past the lease) before it is
sent, marked delivered after a 2xx, otherwise retried with exponential backoff until it is given up.
The body is signed with the account's webhook secret: header `X-SmsRooms-Signature` carries the hex
HMAC-SHA256 of the exact body, so the receiver recomputes it over the raw bytes it got. Each attempt checks
the URL again (DNS may answer otherwise than when it was saved) and connects to the address it checked.
"""
from __future__ import annotations

import http.client
import json
from collections.abc import Callable

from pynamodb.transactions import TransactWrite

from chalicelib.domain.clock import Clock
from chalicelib.domain.ids import hmac_sha256_hex, new_id
from chalicelib.domain.public_address import IpAddress, UnsafeHost
from chalicelib.observability import logger
from chalicelib.providers.pinned_http import OutboundPolicy, Target, UnresolvedHost, post_pinned
from chalicelib.services.platform import outbox
from chalicelib.store.accounts import Account
from chalicelib.store.activations import WebhookDelivery

Sender = Callable[..., int]  # post_pinned's shape: (target, address, body, headers, *, timeout_seconds) -> status
SIGNATURE_HEADER = "X-SmsRooms-Signature"
DELIVERY_HEADER = "X-SmsRooms-Delivery"
_BATCH = 100


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

    def enqueue(self, tx: TransactWrite, account: Account, event: dict[str, object]) -> None:
        """Queue `event` for the account's webhook inside `tx`; nothing when the account has none."""
        if not account.webhook_url:
            return
        now = self.clock.now()
        delivery_id = new_id("whd")
        body = json.dumps({**event, "delivery_id": delivery_id}, separators=(",", ":"))
        tx.save(WebhookDelivery(delivery_id, account_id=account.account_id, url=account.webhook_url, body=body,
                                next_attempt_at=now, due=outbox.due_key(delivery_id, self.shards), created_at=now),
                condition=WebhookDelivery.delivery_id.does_not_exist())

    def deliver_due(self) -> int:
        """Attempt every delivery whose time has come; the count delivered."""
        due = outbox.due_items(WebhookDelivery.due_deliveries, WebhookDelivery.next_attempt_at <= self.clock.now(),
                               self.shards, _BATCH)
        return sum(self._attempt(delivery) for delivery in list(due))

    def _attempt(self, delivery: WebhookDelivery) -> bool:
        if not self._lease(delivery):
            return False
        try:
            account = Account.get(delivery.account_id)
        except Account.DoesNotExist:
            self._settle(delivery, "failed", "account gone")
            return False
        if not account.webhook_url or not account.webhook_secret:
            self._settle(delivery, "failed", "webhook removed")
            return False
        error = self._post(account.webhook_url, account.webhook_secret, delivery)
        if error is None:
            self._settle(delivery, "delivered", None)
            return True
        self._retry_later(delivery, error)
        return False

    def _post(self, url: str, secret: str, delivery: WebhookDelivery) -> str | None:
        """Checked again at every attempt: the URL was checked at save, but DNS may answer otherwise now."""
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: hmac_sha256_hex(body, secret),
                   DELIVERY_HEADER: delivery.delivery_id}
        try:
            target = self.policy.target(url)
            addresses = self.policy.addresses(target)
        except UnsafeHost as unsafe:
            return f"refused: the URL {unsafe}"
        except UnresolvedHost:
            return "the host name does not resolve"
        return self._post_first_reachable(target, addresses, body, headers)

    def _post_first_reachable(self, target: Target, addresses: list[IpAddress], body: bytes,
                              headers: dict[str, str]) -> str | None:
        error = "no address"
        for address in addresses:
            try:
                status = self.send(target, address, body, headers, timeout_seconds=self.timeout_seconds)
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                continue
            return None if 200 <= status < 300 else f"HTTP {status}"
        return error

    def _lease(self, delivery: WebhookDelivery) -> bool:
        return outbox.lease(delivery, self.clock)

    def _retry_later(self, delivery: WebhookDelivery, error: str) -> None:
        if not outbox.retry_later(delivery, self.clock, error, max_attempts=self.max_attempts,
                                  first_backoff_seconds=self.first_backoff_seconds):
            logger.warning("user webhook given up", extra={"delivery_id": delivery.delivery_id, "error": error})

    def _settle(self, delivery: WebhookDelivery, status: str, error: str | None) -> None:
        if status == "failed":
            logger.warning("user webhook given up", extra={"delivery_id": delivery.delivery_id, "error": error})
        outbox.settle(delivery, self.clock, status, error)
