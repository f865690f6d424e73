"""localstripe for the local stack and tests: run it, register webhooks, do what its fake Stripe.js does."""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

TEST_CARD = "4242424242424242"
_TIMEOUT_SECONDS = 10


class LocalStripeError(RuntimeError):
    """localstripe refused a request (for a card, that is how a decline looks in the browser too)."""


def register_webhook(stripe_base_url: str, webhook_id: str, url: str, secret: str,
                     events: Sequence[str] | None = None) -> None:
    """Ask localstripe to POST events to `url`, signed with `secret`; it forgets this when it restarts."""
    body: dict[str, Any] = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = list(events)
    _post_json(f"{stripe_base_url}/_config/webhooks/{webhook_id}", body)


def confirm_setup_intent_with_test_card(stripe_base_url: str, publishable_key: str, setup_intent_id: str,
                                        client_secret: str, card_number: str = TEST_CARD) -> str:
    """Server-side twin of `stripe.confirmCardSetup(client_secret, {payment_method: {card}})`; returns the card's id.

    Like the fake Stripe.js, a card that asks for 3D Secure is confirmed a second time,
    which is what pressing "Complete authentication" in its modal does.
    """
    url = f"{stripe_base_url}/v1/setup_intents/{setup_intent_id}/confirm"
    auth = {"key": publishable_key, "use_stripe_sdk": True, "client_secret": client_secret}
    card = {"number": card_number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    payment_method = {"type": "card", "card": card, "billing_details": {"address": {"postal_code": "10001"}}}
    intent = _post_json(url, {**auth, "payment_method_data": payment_method})
    if intent["status"] == "requires_action":
        intent = _post_json(url, auth)
    if intent["status"] != "succeeded":
        raise LocalStripeError(f"setup intent ended {intent['status']}")
    return str(intent["payment_method"])


def authenticate_payment_intent(stripe_base_url: str, publishable_key: str, payment_intent_id: str,
                                client_secret: str, success: bool = True) -> str:
    """Server-side twin of `stripe.confirmCardPayment` answering the 3D Secure modal; returns the new status."""
    url = f"{stripe_base_url}/v1/payment_intents/{payment_intent_id}/_authenticate?success={str(success).lower()}"
    intent = _post_json(url, {"key": publishable_key, "client_secret": client_secret})
    return str(intent["status"])


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header as Stripe and localstripe write it, for posting events we make up (disputes)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def serve(port: int, state_file: str | None, host: str = "127.0.0.1") -> None:
    """Run localstripe with its state in `state_file`, or in memory only when None.

    Stock localstripe pickles its whole store to /tmp/localstripe.pickle on every write, shared
    by every instance on the machine; parallel test runs would overwrite the local stack's data.
    """
    from aiohttp import web
    from localstripe import resources, server

    def load(store: resources.Store) -> None:
        if state_file:
            _load_store(store, state_file)

    def dump(store: resources.Store) -> None:
        if state_file:
            _dump_store(store, state_file)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    _report_card_fees(resources)
    resources.store.try_load_from_disk()
    # localstripe logs requests and webhook deliveries on this logger; the local stack wants to see them.
    access_log = logging.getLogger("aiohttp.access")
    access_log.setLevel(logging.INFO)
    access_log.addHandler(logging.StreamHandler())
    from infra.local import localstripe_endpoints

    localstripe_endpoints.install(server.app)  # Stripe's /v1/webhook_endpoints, for bin/admin stripe-webhook
    web.run_app(server.app, host=host, port=port, access_log=access_log, print=None)


CARD_FEE_BASIS_POINTS, CARD_FEE_FIXED_CENTS = 290, 30  # Stripe's standard card pricing: 2.9 % + 30 cents


def _report_card_fees(resources: Any) -> None:
    """localstripe's balance transactions all say `fee: 0`; Stripe keeps a processing fee of each card charge and
    says so there. Report Stripe's standard fee on charges, so the service reads a payment's fee as from Stripe."""
    original = resources.BalanceTransaction.__init__

    def with_fee(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.type == "charge" and self.amount > 0:
            self.fee = (self.amount * CARD_FEE_BASIS_POINTS + 5_000) // 10_000 + CARD_FEE_FIXED_CENTS
            self.fee_details = [{"amount": self.fee, "currency": self.currency, "type": "stripe_fee",
                                 "description": "Stripe processing fees", "application": None}]

    resources.BalanceTransaction.__init__ = with_fee


def _load_store(store: dict[str, Any], path: str) -> None:
    import pickle

    try:
        with open(path, "rb") as f:
            store.update(pickle.load(f))  # noqa: S301 - our own file, from _dump_store
    except FileNotFoundError:
        return


def _dump_store(store: dict[str, Any], path: str) -> None:
    import os
    import pickle

    # Write then rename, so a crash mid-write never leaves a file the next start cannot read.
    with open(f"{path}.tmp", "wb") as f:
        pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(f"{path}.tmp", path)


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    # The base URL comes from our own settings (localstripe on localhost), never from a request.
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise LocalStripeError(_error_message(exc)) from exc
    return json.loads(raw) if raw else {}


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"localstripe answered HTTP {exc.code}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run localstripe with a private state file.")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-file", default=None, help="pickle file for the store; in memory when omitted")
    args = parser.parse_args(argv)
    serve(args.port, args.state_file, args.host)


if __name__ == "__main__":
    main()
