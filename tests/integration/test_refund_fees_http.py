"""6.3 over HTTP with localstripe: the refund preview names each card payment's fee as Stripe's balance transaction
reports it, and the approved refund pays exactly what the preview said."""
from __future__ import annotations

import pytest
import requests

from chalicelib.domain.clock import SystemClock
from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.money.refund_requests import RefundDecision
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.wiring import build_refund_requests
from tests.browser.helpers import api, top_up, verified_user

pytestmark = pytest.mark.integration


def test_refund_preview__shows_each_payments_stripe_fee_and_approval_pays_just_that(stack, stack_settings):
    # Given a user who topped up 20.00 and then 10.00 by card
    user = verified_user(stack.app_url, stack.outbox, "fees")
    assert api(stack.app_url, "GET", "/v1/refund-requests/preview", user.token).json()["available_cents"] == 0
    top_up(stack.app_url, stack.stripe_url, user, 2000)
    top_up(stack.app_url, stack.stripe_url, user, 1000)
    # When they look at what a refund would pay, before asking
    preview = api(stack.app_url, "GET", "/v1/refund-requests/preview", user.token).json()
    # Then each payment comes back less the fee Stripe kept of it (2.9 % + 0.30: 0.59 and 0.88), newest first
    assert [(p["amount_cents"], p["fee_cents"], p["fee_source"]) for p in preview["parts"]] == [
        (941, 59, "stripe"), (1912, 88, "stripe")]
    assert (preview["available_cents"], preview["refund_cents"], preview["deposit_fees_cents"]) == (3000, 2853, 147)
    # And when they ask and an admin approves, the cards get exactly that and nothing is left
    request = api(stack.app_url, "POST", "/v1/refund-requests", user.token, json={"reason": "Leaving"}).json()
    gateway = StripeGateway(stack_settings.stripe_secret_key, stack_settings.stripe_api_base,
                            stack_settings.stripe_webhook_secret)
    build_refund_requests(gateway, Wallet(SystemClock(), DynamoMoneyStore()), stack_settings).decide(
        request["request_id"], RefundDecision.APPROVE, None, "admin@example.com")
    for part in preview["parts"]:
        refunds = requests.get(f"{stack.stripe_url}/v1/refunds", params={"payment_intent": part["payment_intent_id"]},
                               auth=(stack_settings.stripe_secret_key, ""), timeout=10).json()["data"]
        assert [r["amount"] for r in refunds] == [part["amount_cents"]]
    me = api(stack.app_url, "GET", "/v1/me", user.token).json()
    assert (me["balance_cents"], me["held_cents"]) == (0, 0)
