"""Helpers for the reliability suite: the books' invariants, a Lambda that dies mid-order, the simulator's faults."""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import requests

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.ids import new_id
from chalicelib.providers.base import PartnerNumber
from chalicelib.services.money.wallet import ExtraItems, Posting, Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import Funds
from infra.local.localstripe_setup import signature_header
from tests.fake_partner import FakePartner


class LambdaDied(BaseException):
    """The runtime killing the function mid-request: no `except Exception` in the code under test catches it."""


def checked_books(account_id: str, *, disputed: bool = False) -> tuple[int, list[LedgerEntry]]:
    """The balance and ledger after asserting the invariants: balance = sum of the ledger, balance ≥ 0 (unless
    a dispute took money back), and no cause written twice for the same kind."""
    entries = list(LedgerEntry.query(account_id, consistent_read=True))
    balance = int(Account.get(account_id, consistent_read=True).balance_cents)
    assert balance == sum(int(e.amount_cents) for e in entries), "balance differs from the sum of the ledger"
    assert disputed or balance >= 0, f"balance went negative: {balance}"
    causes = Counter((e.kind, e.cause_id) for e in entries)
    assert [c for c, n in causes.items() if n > 1] == [], "a cause was applied twice"
    return balance, entries


def kinds(entries: Sequence[LedgerEntry], kind: LedgerKind) -> list[LedgerEntry]:
    return [e for e in entries if e.kind == kind.value]


class DiesAfterIssuing(FakePartner):
    """The partner rents the number, and the Lambda dies before the number reaches the database."""

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        super().get_number(service, country, operator, max_cost_minor, exclude_phones)
        raise LambdaDied


class DiesAroundRefund(Wallet):
    """Dies on the first refund posting, before its transaction is sent or after it committed."""

    def __init__(self, wallet: Wallet, *, after_commit: bool) -> None:
        super().__init__(wallet.clock, wallet.store, wallet.webhook_shards)
        self.after_commit = after_commit
        self.died = False

    def post(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, *,
             memo: str | None = None, allow_negative: bool = False, require_active: bool = False,
             extra: ExtraItems | None = None, known: Funds | None = None,
             balance_hook: bool | None = None) -> Posting:
        def write() -> Posting:
            return super(DiesAroundRefund, self).post(account_id, amount_cents, kind, cause_id, memo=memo,
                                                      allow_negative=allow_negative, require_active=require_active,
                                                      extra=extra, known=known, balance_hook=balance_hook)

        if kind is not LedgerKind.ACTIVATION_REFUND or self.died:
            return write()
        self.died = True
        if self.after_commit:
            write()
        raise LambdaDied


@contextmanager
def simulator_config(simulator_url: str, **change: Any) -> Iterator[None]:
    """Apply a `/_sim/config` change for the block, then put back exactly the values it changed.

    Other tests share the stack's simulator (and its activations), so no reset: only these keys go back.
    """
    state = requests.get(f"{simulator_url}/_sim/state", timeout=5).json()
    before: dict[str, Any] = {k: state["config"][k] for k in change if k in state["config"]}
    if "stock" in change:
        before["stock"] = {offer: state["stock"][offer] for offer in change["stock"]}
    if "balance_minor" in change:
        before["balance_minor"] = state["balance_minor"]
    requests.post(f"{simulator_url}/_sim/config", json=change, timeout=5).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{simulator_url}/_sim/config", json=before, timeout=5).raise_for_status()


def post_payment_succeeded(app_url: str, secret: str, event_id: str, intent: dict[str, Any]) -> str:
    """Deliver payment_intent.succeeded signed now, as Stripe does; the app's outcome for it."""
    now = int(time.time())
    body = json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded", "created": now,
                       "data": {"object": intent}}).encode()
    reply = requests.post(f"{app_url}/v1/webhooks/stripe", data=body, timeout=60,
                          headers={"Stripe-Signature": signature_header(body, secret, now),
                                   "Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["outcome"])


def post_order(session: requests.Session, app_url: str, service: str, country: int) -> tuple[int, dict[str, Any]]:
    """POST /v1/activations; a 429 (the per-credential rate limit) is waited out, it is not an answer."""
    while True:
        reply = session.post(f"{app_url}/v1/activations", json={"service": service, "country": country}, timeout=60)
        if reply.status_code != 429:
            return reply.status_code, dict(reply.json())
        time.sleep(float(reply.headers.get("Retry-After", "1")))


def order_outcome(status_code: int, body: dict[str, Any]) -> str:
    """One word for an order's answer: the activation's status, or the error code with its HTTP status."""
    if status_code == 201:
        return str(body["status"])
    return f"{status_code}:{body.get('error', {}).get('code')}"


def fresh_event_id(intent_id: str, copy: int) -> str:
    """Stripe redelivers an event under its own id; a few copies get ids of their own, as a replayed export would."""
    return new_id("evt") if copy % 3 == 0 else f"evt_{intent_id}"
