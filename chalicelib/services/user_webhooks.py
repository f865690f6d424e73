"""Users' SMS webhooks: events queued in the transaction that records the SMS, then POSTed signed, with retries.

Delivery is at least once: an event is leased (its next attempt pushed past the lease) before it is
sent, marked delivered after a 2xx, otherwise retried with exponential backoff until it is given up.
The body is signed with the account's webhook secret: header `X-SmsRooms-Signature` carries the hex
HMAC-SHA256 of the exact body, so the receiver recomputes it over the raw bytes it got.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pynamodb.transactions import TransactWrite

from chalicelib.domain.clock import Clock
from chalicelib.domain.ids import hmac_sha256_hex, new_id
from chalicelib.observability import logger
from chalicelib.services import outbox
from chalicelib.store.accounts import Account
from chalicelib.store.activations import WebhookDelivery

if TYPE_CHECKING:
    import requests

SIGNATURE_HEADER = "X-SmsRooms-Signature"
DELIVERY_HEADER = "X-SmsRooms-Delivery"
_BATCH = 100


class UserWebhooks:
    def __init__(self, clock: Clock, session: requests.Session | None = None, *, max_attempts: int = 8,
                 first_backoff_seconds: float = 5.0, timeout: tuple[float, float] = (2.0, 5.0)) -> None:
        self.clock = clock
        self._session = session
        self.max_attempts = max_attempts
        self.first_backoff_seconds = first_backoff_seconds
        self.timeout = timeout

    def enqueue(self, tx: TransactWrite, account: Account, event: dict[str, object]) -> None:
        """Queue `event` for the account's webhook inside `tx`; nothing when the account has none."""
        if not account.webhook_url:
            return
        now = self.clock.now()
        delivery_id = new_id("whd")
        body = json.dumps({**event, "delivery_id": delivery_id}, separators=(",", ":"))
        tx.save(WebhookDelivery(delivery_id, account_id=account.account_id, url=account.webhook_url, body=body,
                                next_attempt_at=now, due=outbox.DUE, created_at=now),
                condition=WebhookDelivery.delivery_id.does_not_exist())

    def deliver_due(self) -> int:
        """Attempt every delivery whose time has come; the count delivered."""
        due = WebhookDelivery.due_deliveries.query(outbox.DUE, WebhookDelivery.next_attempt_at <= self.clock.now(),
                                                   limit=_BATCH)
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
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: hmac_sha256_hex(body, secret),
                   DELIVERY_HEADER: delivery.delivery_id}
        # requests is imported by the job that delivers, not by every API cold start that only enqueues.
        import requests

        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return type(exc).__name__
        return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"

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
