"""StripeGateway against a real localstripe over HTTP: save a card, charge it, refund, and receive its webhook."""
from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.domain.errors import PaymentError
from chalicelib.providers.stripe_gateway import CardSummary, StripeGateway
from infra.local.localstripe_setup import (
    authenticate_payment_intent,
    confirm_setup_intent_with_test_card,
    register_webhook,
)
from tests.integration.localstripe_support import (
    WebhookReceiver,
    customer_with_saved_card,
    free_port,
    running_localstripe,
)

pytestmark = pytest.mark.integration

SECRET_KEY = "sk_test_local"
PUBLISHABLE_KEY = "pk_test_local"
WEBHOOK_SECRET = "whsec_integration"
DECLINED_ON_CHARGE = "4000000000000341"
ASKS_FOR_3DS = "4000002500003155"


@pytest.fixture(scope="module")
def stripe_base_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def gateway(stripe_base_url: str) -> StripeGateway:
    return StripeGateway(secret_key=SECRET_KEY, api_base=stripe_base_url, webhook_secret=WEBHOOK_SECRET)


def test_charge_saved_card__test_card_succeeds(gateway: StripeGateway, stripe_base_url: str) -> None:
    # Given a customer who saved the 4242 test card through a SetupIntent
    customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url)
    # When the server charges it 15.00
    intent = gateway.charge_saved_card(
        customer_id, payment_method_id, 1500, "USD", account_id="acc-1", topup_id="topup-1",
        idempotency_key="topup:topup-1:charge",
    )
    # Then the PaymentIntent succeeded for exactly that amount
    assert intent.status == "succeeded"
    assert (intent.amount_cents, intent.currency) == (1500, "usd")
    assert intent.id.startswith("pi_") and intent.client_secret.startswith(intent.id)


def test_charge_saved_card__declined_card_raises_payment_error(gateway: StripeGateway, stripe_base_url: str) -> None:
    # Given a saved card that its bank declines on charge
    customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url, DECLINED_ON_CHARGE)
    # When the server charges it
    with pytest.raises(PaymentError) as raised:
        gateway.charge_saved_card(
            customer_id, payment_method_id, 1500, "USD", account_id="acc-1", topup_id="topup-2",
            idempotency_key="topup:topup-2:charge",
        )
    # Then the user reads a plain decline message with no Stripe internals
    assert raised.value.message == "Your card was declined."
    assert raised.value.details == {"reason": "card_declined"}


def test_charge_saved_card__card_asking_for_3ds_waits_for_the_page(
    gateway: StripeGateway, stripe_base_url: str,
) -> None:
    # Given a saved card whose bank asks for 3D Secure on every payment
    customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url, ASKS_FOR_3DS)
    # When the server charges it
    intent = gateway.charge_saved_card(
        customer_id, payment_method_id, 1500, "USD", account_id="acc-1", topup_id="topup-3",
        idempotency_key="topup:topup-3:charge",
    )
    # Then it waits for the page, and the page's confirmCardPayment completes it
    assert intent.status == "requires_action"
    assert authenticate_payment_intent(stripe_base_url, PUBLISHABLE_KEY, intent.id, intent.client_secret) == "succeeded"


def test_charge_saved_card__another_customers_card_is_refused(gateway: StripeGateway, stripe_base_url: str) -> None:
    # Given a card saved and used by one customer
    owner_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url)
    gateway.charge_saved_card(owner_id, payment_method_id, 500, "USD", account_id="acc-owner",
                              topup_id="topup-4", idempotency_key="topup:topup-4:charge")
    other_id = gateway.ensure_customer("acc-other", "other@example.com", None)
    # When another customer tries to top up with that card's id
    with pytest.raises(PaymentError) as raised:
        gateway.charge_saved_card(other_id, payment_method_id, 500, "USD", account_id="acc-other",
                                  topup_id="topup-5", idempotency_key="topup:topup-5:charge")
    # Then it is refused
    assert "not saved on your account" in raised.value.message


def test_list_payment_methods__shows_the_card_used_for_a_top_up(gateway: StripeGateway, stripe_base_url: str) -> None:
    # Given a customer who topped up with the 4242 test card
    customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url)
    gateway.charge_saved_card(customer_id, payment_method_id, 500, "USD", account_id="acc-1",
                              topup_id="topup-6", idempotency_key="topup:topup-6:charge")
    # When their saved cards are listed
    cards = gateway.list_payment_methods(customer_id)
    # Then the card shows with brand, last digits and expiry
    assert cards == [CardSummary(id=payment_method_id, brand="visa", last4="4242", exp_month=12, exp_year=2030)]


def test_list_payment_methods__the_same_card_entered_twice_is_listed_once(gateway: StripeGateway,
                                                                        stripe_base_url: str) -> None:
    # Given a customer who entered the 4242 card, then the same card again, and a second card
    customer_id, first = customer_with_saved_card(gateway, stripe_base_url)
    again = confirm_setup_intent_with_test_card(stripe_base_url, PUBLISHABLE_KEY,
                                                *_setup(gateway, customer_id))
    other = confirm_setup_intent_with_test_card(stripe_base_url, PUBLISHABLE_KEY, *_setup(gateway, customer_id),
                                                card_number="5555555555554444")
    for n, method in enumerate([first, again, other]):  # each topped up with (localstripe attaches cards then)
        gateway.charge_saved_card(customer_id, method, 500, "USD", account_id="acc-1", topup_id=f"topup-d{n}",
                                  idempotency_key=f"topup:{customer_id}:{n}")
    # When their saved cards are listed
    cards = gateway.list_payment_methods(customer_id)
    # Then each card shows once
    assert sorted(c.last4 for c in cards) == ["4242", "4444"]
    assert {c.id for c in cards} <= {first, again, other}


def _setup(gateway: StripeGateway, customer_id: str) -> tuple[str, str]:
    setup = gateway.create_setup_intent(customer_id)
    return setup.id, setup.client_secret


def test_ensure_customer__keeps_an_existing_customer(gateway: StripeGateway) -> None:
    # Given an account that already has a Stripe customer
    customer_id = gateway.ensure_customer("acc-7", "seven@example.com", None)
    # When the customer is ensured again
    again = gateway.ensure_customer("acc-7", "seven@example.com", customer_id)
    # Then the same customer is used
    assert again == customer_id


def test_refund__partial_refunds_of_one_payment(gateway: StripeGateway, stripe_base_url: str) -> None:
    # Given a 10.00 top-up
    customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url)
    intent = gateway.charge_saved_card(customer_id, payment_method_id, 1000, "USD", account_id="acc-1",
                                       topup_id="topup-8", idempotency_key="topup:topup-8:charge")
    # When 3.00 and then 2.00 are refunded
    first = gateway.refund(intent.id, 300, idempotency_key="refund:r1", metadata={"refund_request_id": "r1"})
    second = gateway.refund(intent.id, 200, idempotency_key="refund:r2", metadata={"refund_request_id": "r2"})
    # Then both refunds succeed, separately, for their own amounts
    assert (first.status, first.amount_cents) == ("succeeded", 300)
    assert (second.status, second.amount_cents) == ("succeeded", 200)
    assert first.id != second.id


def test_refund__unknown_payment_raises_payment_error(gateway: StripeGateway) -> None:
    # Given a payment id Stripe does not know
    # When it is refunded / Then the user reads a plain message
    with pytest.raises(PaymentError) as raised:
        gateway.refund("pi_doesnotexist", 100, idempotency_key="refund:r3", metadata={})
    assert raised.value.message == "The payment could not be processed."


def test_charge_saved_card__sends_the_callers_idempotency_key(gateway: StripeGateway, stripe_base_url: str) -> None:
    # Given a saved card, and a proxy in front of localstripe (which itself ignores Idempotency-Key)
    customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url)
    with _RecordingProxy(stripe_base_url) as proxy:
        through_proxy = StripeGateway(SECRET_KEY, proxy.base_url, WEBHOOK_SECRET)
        # When the server charges the card for top-up 9
        through_proxy.charge_saved_card(customer_id, payment_method_id, 700, "USD", account_id="acc-1",
                                        topup_id="topup-9", idempotency_key="topup:topup-9:charge")
    # Then Stripe received the caller's deterministic key, so a retry cannot charge twice
    assert ("POST", "/v1/payment_intents", "topup:topup-9:charge") in proxy.requests


def test_charge_saved_card__stripe_unreachable_raises_payment_error() -> None:
    # Given Stripe cannot be reached
    gateway = StripeGateway(SECRET_KEY, f"http://127.0.0.1:{free_port()}", WEBHOOK_SECRET)
    # When the server charges a card / Then the user is told to try again later
    with pytest.raises(PaymentError) as raised:
        gateway.charge_saved_card("cus_x", "pm_x", 500, "USD", account_id="acc-1", topup_id="topup-10",
                                  idempotency_key="topup:topup-10:charge")
    assert "unavailable" in raised.value.message


def test_parse_webhook__accepts_localstripe_payment_intent_succeeded(
    gateway: StripeGateway, stripe_base_url: str,
) -> None:
    # Given our webhook endpoint registered on localstripe for payment_intent.succeeded
    with WebhookReceiver() as receiver:
        register_webhook(stripe_base_url, "integration-test", receiver.url, WEBHOOK_SECRET,
                         events=["payment_intent.succeeded"])
        customer_id, payment_method_id = customer_with_saved_card(gateway, stripe_base_url)
        # When a top-up charge succeeds
        intent = gateway.charge_saved_card(customer_id, payment_method_id, 2500, "USD", account_id="acc-11",
                                           topup_id="topup-11", idempotency_key="topup:topup-11:charge")
        raw_body, signature = receiver.wait_for(intent.id)
    # Then the signed event localstripe sent is accepted, and names the top-up it pays
    event = gateway.parse_webhook(raw_body, signature, now=int(time.time()))
    assert event.type == "payment_intent.succeeded"
    assert event.data_object["id"] == intent.id
    assert event.data_object["metadata"] == {"account_id": "acc-11", "topup_id": "topup-11"}


class _RecordingProxy:
    """Forwards every request to localstripe and records (method, path, Idempotency-Key)."""

    def __init__(self, target_base_url: str) -> None:
        requests: list[tuple[str, str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))) or None
                requests.append((self.command, self.path.split("?")[0], self.headers.get("Idempotency-Key")))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                upstream = urllib.request.Request(target_base_url + self.path, data=body, method=self.command,
                                                  headers=headers)
                try:
                    with urllib.request.urlopen(upstream, timeout=10) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

            def log_message(self, *args: object) -> None:
                return

        self.requests = requests
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> _RecordingProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
