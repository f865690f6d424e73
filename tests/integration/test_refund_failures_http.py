"""A refund payout that Stripe reports failed, over real HTTP on the local stack: the money comes back once.

localstripe never fails a refund, so the failure is its own refund object with `status: failed`,
signed with the stack's webhook secret and posted to the app as Stripe would.
"""
from __future__ import annotations

import pytest
import requests

from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.money.refund_requests import RefundDecision
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.wiring import build_refund_requests
from tests.integration.helpers_security import bearer, emails_to
from tests.integration.test_money_localstripe import _credited, _me, _post_event, _stripe_get, _whole_ledger
from tests.support import customer_with_key

pytestmark = pytest.mark.integration

FAILED_SUBJECT = "Your SMS Rooms refund did not reach your card"


def test_webhook__a_failed_refund_payout_is_credited_back_once_and_emailed(stack, stack_settings):
    # Given 20.00 topped up by card through localstripe, and a refund request for it approved by an admin
    customer = customer_with_key(stack_settings)
    auth = bearer(customer.api_key)
    intent_id = _credited(stack.app_url, stack.stripe_url, auth, 2000)["payment_intent_id"]
    request = requests.post(f"{stack.app_url}/v1/refund-requests", headers=auth, json={"reason": "Leaving"},
                            timeout=10).json()
    gateway = StripeGateway(stack_settings.stripe_secret_key, stack_settings.stripe_api_base,
                            stack_settings.stripe_webhook_secret)
    build_refund_requests(gateway, Wallet(SystemClock(), DynamoMoneyStore()), stack_settings).decide(
        request["request_id"], RefundDecision.APPROVE, None, "admin@example.com")
    [refund] = _stripe_get(stack.stripe_url, "/v1/refunds", payment_intent=intent_id)["data"]
    card_fee = 88  # what localstripe's balance transaction says Stripe kept of 20.00 (2.9 % + 0.30): not refunded
    paid_out = 2000 - card_fee - stack_settings.refund_fee_cents
    assert (refund["amount"], _me(stack.app_url, auth)["balance_cents"]) == (paid_out, 0)
    # When Stripe reports that card refund failed, delivers it again, and sends refund.updated with it too
    failed = {**refund, "status": "failed", "failure_reason": "expired_or_canceled_card"}
    secret = stack_settings.stripe_webhook_secret
    first = _post_event(stack.app_url, secret, "refund.failed", failed, event_id=f"evt_failed_{refund['id']}")
    again = _post_event(stack.app_url, secret, "refund.failed", failed, event_id=f"evt_failed_{refund['id']}")
    updated = _post_event(stack.app_url, secret, "refund.updated", failed)
    # Then the first applies, the others are duplicates, and the payout is back on the balance once
    assert [(r.status_code, r.json()["outcome"]) for r in (first, again, updated)] == [
        (200, "applied"), (200, "duplicate"), (200, "duplicate")]
    ledger = _whole_ledger(stack.app_url, auth)
    assert [(e["amount_cents"], e["cause_id"]) for e in ledger if e["kind"] == "refund_reversal"] == [
        (paid_out, refund["id"])]
    assert _me(stack.app_url, auth)["balance_cents"] == sum(e["amount_cents"] for e in ledger) == paid_out
    # And the top-up can be refunded again, and the user got one email saying so
    payments = requests.get(f"{stack.app_url}/v1/payments", headers=auth, timeout=10).json()["items"]
    assert [p["refunded_cents"] for p in payments if p["type"] == "top_up"] == [0]
    mails = [m for m in emails_to(stack.outbox, customer.email) if m["Subject"] == FAILED_SUBJECT]
    assert len(mails) == 1 and refund["id"] in str(mails[0].get_content())


def test_webhook__a_failed_refund_we_never_took_is_acknowledged_and_ignored(stack, stack_settings):
    # Given a customer with money on the balance and a refund id the service never saw
    customer = customer_with_key(stack_settings, balance_cents=700)
    unknown = {"id": new_id("re"), "object": "refund", "amount": 700, "currency": "usd", "status": "failed",
               "payment_intent": new_id("pi"), "metadata": {"account_id": customer.account_id}}
    # When Stripe reports it failed
    reply = _post_event(stack.app_url, stack_settings.stripe_webhook_secret, "refund.failed", unknown)
    # Then it is acknowledged with 200 and nothing is credited
    assert (reply.status_code, reply.json()["outcome"]) == (200, "ignored")
    assert _me(stack.app_url, bearer(customer.api_key))["balance_cents"] == 700
