"""Money over real HTTP on the local stack: localstripe charges and refunds cards, its signed webhooks credit balances.

Events localstripe never sends (charge.refunded, disputes) and deliveries Stripe repeats or reorders
are made here from localstripe's own objects, signed with the stack's webhook secret, and posted to
the app like Stripe would.
"""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.ids import new_id
from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.money.refund_requests import RefundDecision
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.payments import TopUp
from chalicelib.wiring import build_refund_requests
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card, signature_header
from tests.integration.helpers_security import bearer, fund, sign_up
from tests.support import customer_with_key, unverified_customer_with_key
from tests.unit.stripe_fake import FakeGateway

pytestmark = pytest.mark.integration

STRIPE_AUTH = ("sk_test_local", "")


def _wait_for(check: Callable[[], bool], what: str, timeout_seconds: float = 15) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout_seconds} s")


def _me(app_url: str, auth: dict[str, str]) -> dict[str, Any]:
    reply = requests.get(f"{app_url}/v1/me", headers=auth, timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _whole_ledger(app_url: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    """Every entry through GET /v1/ledger, page by page."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = requests.get(f"{app_url}/v1/ledger", params=params, headers=auth, timeout=10).json()
        items += page["items"]
        if page["next_before_seq"] is None:
            return items
        params["before_seq"] = page["next_before_seq"]


def _top_up_by_card(app_url: str, stripe_url: str, auth: dict[str, str], amount_cents: int) -> dict[str, Any]:
    """What the top-up page does: save the test card with the SetupIntent, then ask the server to charge it."""
    setup = requests.post(f"{app_url}/v1/topups/card-setup", headers=auth, timeout=10)
    assert setup.status_code == 201, setup.text
    body = setup.json()
    card = confirm_setup_intent_with_test_card(stripe_url, body["publishable_key"], body["setup_intent_id"],
                                               body["client_secret"])
    topup = requests.post(f"{app_url}/v1/topups", headers=auth, timeout=20,
                          json={"amount_cents": amount_cents, "payment_method_id": card})
    assert topup.status_code == 201, topup.text
    return dict(topup.json())


def _credited(app_url: str, stripe_url: str, auth: dict[str, str], amount_cents: int) -> dict[str, Any]:
    """A top-up charged by localstripe and credited by its webhook."""
    before = _me(app_url, auth)["balance_cents"]
    topup = _top_up_by_card(app_url, stripe_url, auth, amount_cents)
    _wait_for(lambda: _me(app_url, auth)["balance_cents"] == before + amount_cents, "the webhook's credit")
    return topup


def _post_event(app_url: str, secret: str, event_type: str, obj: dict[str, Any], *, event_id: str | None = None,
                signed_at: int | None = None) -> requests.Response:
    """Deliver an event to the app as Stripe does: JSON body, Stripe-Signature over the raw bytes."""
    created = int(time.time())
    body = json.dumps({"id": event_id or new_id("evt"), "object": "event", "type": event_type, "created": created,
                       "data": {"object": obj}}, indent=2).encode()
    header = signature_header(body, secret, signed_at if signed_at is not None else created)
    return requests.post(f"{app_url}/v1/webhooks/stripe", data=body, timeout=60,
                         headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"})


def _stripe_get(stripe_url: str, path: str, **params: Any) -> dict[str, Any]:
    reply = requests.get(f"{stripe_url}{path}", params=params, auth=STRIPE_AUTH, timeout=10)
    reply.raise_for_status()
    return dict(reply.json())


def _charge_of(stripe_url: str, payment_intent_id: str) -> dict[str, Any]:
    intent = _stripe_get(stripe_url, f"/v1/payment_intents/{payment_intent_id}")
    latest = intent["latest_charge"]
    return _stripe_get(stripe_url, f"/v1/charges/{latest if isinstance(latest, str) else latest['id']}")


def _stripe_fee(stripe_url: str, payment_intent_id: str) -> int:
    """What the payment's balance transaction says Stripe kept."""
    transaction = _charge_of(stripe_url, payment_intent_id)["balance_transaction"]
    return int(_stripe_get(stripe_url, f"/v1/balance_transactions/{transaction}")["fee"])


def _pending_top_up(settings: Settings, account_id: str, amount_cents: int) -> TopUp:
    """A top-up charged through a Stripe only this test knows, so no webhook arrives unless the test sends one."""
    topups = TopUps(FakeGateway(), settings, SystemClock())
    topups.start_card_setup(Account.get(account_id))
    started = topups.start(Account.get(account_id), amount_cents, "pm_card")
    return TopUp.get(started.topup_id)


def _succeeded_intent(topup: TopUp, amount_cents: int | None = None) -> dict[str, Any]:
    amount = topup.amount_cents if amount_cents is None else amount_cents
    return {"id": topup.payment_intent_id, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": "usd", "status": "succeeded",
            "metadata": {"account_id": topup.account_id, "topup_id": topup.topup_id}}


def test_top_up__card_saved_charged_and_credited_only_by_the_webhook(stack, stack_settings):
    # Given someone who registered and verified their email over HTTP
    member = sign_up(stack.app_url, stack.outbox)
    # When they save the test card and top up 25.00
    topup = _top_up_by_card(stack.app_url, stack.stripe_url, member.auth, 2500)
    # Then localstripe's signed webhook credits the balance, and the ledger and payments say why
    assert topup["status"] == "succeeded" and topup["payment_intent_id"].startswith("pi_")
    _wait_for(lambda: _me(stack.app_url, member.auth)["balance_cents"] == 2500, "the webhook's credit")
    [entry] = _whole_ledger(stack.app_url, member.auth)
    assert (entry["kind"], entry["amount_cents"], entry["cause_id"]) == ("top_up", 2500, topup["payment_intent_id"])
    assert entry["created_at"].endswith("Z")
    payments = requests.get(f"{stack.app_url}/v1/payments", headers=member.auth, timeout=10).json()["items"]
    assert [(p["type"], p["status"], p["amount_cents"]) for p in payments] == [("top_up", "credited", 2500)]
    cards = requests.get(f"{stack.app_url}/v1/topups/cards", headers=member.auth, timeout=10).json()["items"]
    assert [(c["brand"], c["last4"]) for c in cards] == [("visa", "4242")]


def test_top_up__unverified_account_is_refused(stack, stack_settings):
    # Given an account that has not verified its email
    customer = unverified_customer_with_key(stack_settings)
    # When it starts a card setup / Then it is told to verify first
    reply = requests.post(f"{stack.app_url}/v1/topups/card-setup", headers=bearer(customer.api_key), timeout=10)
    assert (reply.status_code, reply.json()["error"]["code"]) == (403, "EMAIL_NOT_VERIFIED")


@pytest.mark.parametrize(("secret", "age_seconds"), [("whsec_forged", 0), (None, 600)])
def test_webhook__forged_or_stale_signature_is_400_and_writes_nothing(stack, stack_settings, secret, age_seconds):
    # Given a charged top-up waiting for Stripe's event
    customer = customer_with_key(stack_settings)
    topup = _pending_top_up(stack_settings, customer.account_id, 1500)
    # When the event arrives signed with another secret, or signed ten minutes ago
    reply = _post_event(stack.app_url, secret or stack_settings.stripe_webhook_secret, "payment_intent.succeeded",
                        _succeeded_intent(topup), signed_at=int(time.time()) - age_seconds)
    # Then it is refused and nothing is credited
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "BAD_SIGNATURE"
    assert _me(stack.app_url, bearer(customer.api_key))["balance_cents"] == 0
    assert TopUp.get(topup.topup_id).status == "pending"


def test_webhook__amount_not_matching_the_top_up_is_refused(stack, stack_settings):
    # Given a charged top-up of 15.00
    customer = customer_with_key(stack_settings)
    topup = _pending_top_up(stack_settings, customer.account_id, 1500)
    # When a correctly signed event says 1000.00 was paid for it
    reply = _post_event(stack.app_url, stack_settings.stripe_webhook_secret, "payment_intent.succeeded",
                        _succeeded_intent(topup, amount_cents=100_000))
    # Then it is acknowledged but not believed: nothing is credited
    assert (reply.status_code, reply.json()["outcome"]) == (200, "rejected")
    assert _me(stack.app_url, bearer(customer.api_key))["balance_cents"] == 0


def test_webhook__repeated_and_reordered_events_apply_each_once(stack, stack_settings):
    # Given a credited 30.00 top-up, refunded 4.00 and then 6.00 in Stripe, and a 5.00 dispute later won
    customer = customer_with_key(stack_settings)
    auth = bearer(customer.api_key)
    intent_id = _credited(stack.app_url, stack.stripe_url, auth, 3000)["payment_intent_id"]
    secret = stack_settings.stripe_webhook_secret
    intent = _stripe_get(stack.stripe_url, f"/v1/payment_intents/{intent_id}")
    requests.post(f"{stack.stripe_url}/v1/refunds", auth=STRIPE_AUTH, timeout=10,
                  data={"payment_intent": intent_id, "amount": 400}).raise_for_status()
    after_first = _charge_of(stack.stripe_url, intent_id)
    requests.post(f"{stack.stripe_url}/v1/refunds", auth=STRIPE_AUTH, timeout=10,
                  data={"payment_intent": intent_id, "amount": 600}).raise_for_status()
    after_both = _charge_of(stack.stripe_url, intent_id)
    dispute = {"id": new_id("dp"), "object": "dispute", "amount": 500, "currency": "usd",
               "charge": after_both["id"], "payment_intent": intent_id, "status": "won"}
    deliveries = ([("payment_intent.succeeded", intent)] * 20 + [("charge.refunded", after_first)] * 3
                  + [("charge.refunded", after_both)] * 3 + [("charge.dispute.created", dispute)] * 2
                  + [("charge.dispute.funds_reinstated", dispute)] * 2)
    random.Random(7).shuffle(deliveries)
    # When they are all delivered in that shuffled order, four at a time
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda d: _post_event(stack.app_url, secret, *d), deliveries))
    # Then every delivery is acknowledged, each cause is in the ledger once, and the balance is its sum
    assert {r.status_code for r in replies} == {200}
    ledger = _whole_ledger(stack.app_url, auth)
    assert sorted((e["kind"], e["amount_cents"]) for e in ledger) == sorted([
        ("top_up", 3000), ("card_refund", -400), ("card_refund", -600), ("dispute", -500),
        ("dispute_reversal", 500)])
    assert _me(stack.app_url, auth)["balance_cents"] == sum(e["amount_cents"] for e in ledger) == 2000


def test_wallet__racing_debits_on_one_account_never_go_below_zero(stack_settings):
    # Given 10.00 on one account
    customer = customer_with_key(stack_settings, balance_cents=1000)
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    taken: list[int] = []
    lock = threading.Lock()

    def debit(i: int) -> None:
        try:
            wallet.post(customer.account_id, -150, LedgerKind.ACTIVATION_CHARGE, f"race_{customer.account_id}_{i}")
        except InsufficientBalance:
            return
        with lock:
            taken.append(i)

    # When ten debits of 1.50 race from six threads on DynamoDB Local
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(debit, range(10)))
    # Then exactly six fit, the balance never went below zero, and it is the ledger's sum
    entries = wallet.entries(customer.account_id)
    assert len(taken) == 6
    assert all(int(e.balance_after_cents) >= 0 for e in entries)
    assert Account.get(customer.account_id, consistent_read=True).balance_cents == sum(
        int(e.amount_cents) for e in entries) == 100


def test_refund_request__held_then_approved_refunds_the_card_in_stripe(stack, stack_settings):
    # Given a credited 20.00 card top-up, and a refund request for it over HTTP
    customer = customer_with_key(stack_settings)
    auth = bearer(customer.api_key)
    intent_id = _credited(stack.app_url, stack.stripe_url, auth, 2000)["payment_intent_id"]
    created = requests.post(f"{stack.app_url}/v1/refund-requests", headers=auth, json={"reason": "Leaving"},
                            timeout=10)
    assert created.status_code == 201, created.text
    request = created.json()
    assert (request["amount_cents"], request["status"]) == (2000, "pending")
    assert Account.get(customer.account_id, consistent_read=True).held_cents == 2000
    # And support sees it as a ticket of its own kind (6.3: a written request to support)
    tickets = requests.get(f"{stack.app_url}/v1/support/tickets", headers=auth, timeout=10).json()["items"]
    assert [(t["kind"], t["reference_id"]) for t in tickets] == [("refund_request", request["request_id"])]
    # When an admin approves it
    gateway = StripeGateway(stack_settings.stripe_secret_key, stack_settings.stripe_api_base,
                            stack_settings.stripe_webhook_secret)
    build_refund_requests(gateway, Wallet(SystemClock(), DynamoMoneyStore()), stack_settings).decide(
        request["request_id"], RefundDecision.APPROVE, "ok", "admin@example.com")
    # Then localstripe holds the card refund of the payment less the fee its balance transaction says Stripe kept
    # (6.3: 2.9 % + 0.30 of 20.00), the ledger shows the payout and the fee, and nothing is held or left
    fee = _stripe_fee(stack.stripe_url, intent_id)
    refunds = _stripe_get(stack.stripe_url, "/v1/refunds", payment_intent=intent_id)["data"]
    assert fee == 88
    assert [(r["amount"], r["metadata"]["refund_request_id"]) for r in refunds] == [(2000 - fee,
                                                                                    request["request_id"])]
    kinds = [(e["kind"], e["amount_cents"]) for e in _whole_ledger(stack.app_url, auth)]
    assert ("refund_payout", -(2000 - fee)) in kinds and ("refund_payout", -fee) in kinds
    assert _me(stack.app_url, auth)["balance_cents"] == 0
    listed = requests.get(f"{stack.app_url}/v1/refund-requests", headers=auth, timeout=10).json()["items"]
    assert [(r["status"], r["paid_cents"], r["deposit_fee_cents"]) for r in listed] == [("approved", 2000 - fee, fee)]


def test_refund_request__declined_releases_the_hold(stack, stack_settings):
    # Given 9.00 held by a pending refund request
    customer = customer_with_key(stack_settings)
    fund(customer.account_id, 900)
    auth = bearer(customer.api_key)
    request = requests.post(f"{stack.app_url}/v1/refund-requests", headers=auth, json={"reason": "x"},
                            timeout=10).json()
    second = requests.post(f"{stack.app_url}/v1/refund-requests", headers=auth, json={"reason": "again"},
                           timeout=10)
    assert (second.status_code, second.json()["error"]["code"]) == (409, "REFUND_REQUEST_PENDING")
    # When an admin declines it
    build_refund_requests(FakeGateway(), Wallet(SystemClock(), DynamoMoneyStore()), stack_settings).decide(
        request["request_id"], RefundDecision.DECLINE, "no", "admin")
    # Then the money is spendable again and a new request can be made
    assert Account.get(customer.account_id, consistent_read=True).held_cents == 0
    again = requests.post(f"{stack.app_url}/v1/refund-requests", headers=auth, json={"reason": "again"}, timeout=10)
    assert again.status_code == 201


def test_topup__a_retry_with_the_same_idempotency_key_charges_and_credits_once(stack, stack_settings):
    # Given a saved card and a 7.00 top-up sent with an Idempotency-Key
    customer = customer_with_key(stack_settings)
    auth = bearer(customer.api_key)
    setup = requests.post(f"{stack.app_url}/v1/topups/card-setup", headers=auth, timeout=10).json()
    card = confirm_setup_intent_with_test_card(stack.stripe_url, setup["publishable_key"], setup["setup_intent_id"],
                                               setup["client_secret"])
    keyed = {**auth, "Idempotency-Key": "topup-7-usd"}
    first = requests.post(f"{stack.app_url}/v1/topups", headers=keyed, timeout=20,
                          json={"amount_cents": 700, "payment_method_id": card})
    # When the client, having lost the answer, sends it again
    again = requests.post(f"{stack.app_url}/v1/topups", headers=keyed, timeout=20,
                          json={"amount_cents": 700, "payment_method_id": card})
    # Then both answers name one PaymentIntent, Stripe holds one charge, and the balance is credited once
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["payment_intent_id"] == first.json()["payment_intent_id"]
    _wait_for(lambda: _me(stack.app_url, auth)["balance_cents"] == 700, "the webhook's credit")
    time.sleep(1.5)  # localstripe sends its events about a second after the charge: none may follow
    assert _me(stack.app_url, auth)["balance_cents"] == 700
    assert [int(t.amount_cents) for t in TopUp.by_account.query(customer.account_id)] == [700]
    intent = _stripe_get(stack.stripe_url, f"/v1/payment_intents/{first.json()['payment_intent_id']}")
    assert (intent["amount"], intent["status"]) == (700, "succeeded")
