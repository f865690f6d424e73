"""localstripe for the integration tests: one server a module, a customer with a saved card, a webhook receiver."""
from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chalicelib.providers.stripe_gateway import StripeGateway
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLISHABLE_KEY = "pk_test_local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"{base_url}/js.stripe.com/v3/", timeout=1).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise RuntimeError("localstripe did not answer within 15 s")


@contextmanager
def running_localstripe() -> Iterator[str]:
    """A localstripe of its own on a free port (the store in memory), its base URL."""
    port = free_port()
    # Our launcher keeps the store in memory; stock localstripe would overwrite /tmp/localstripe.pickle.
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local.localstripe_setup", "--port", str(port)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, process)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def customer_with_saved_card(gateway: StripeGateway, stripe_base_url: str, card: str = "4242424242424242",
                              ) -> tuple[str, str]:
    """What the top-up page does: a customer, a SetupIntent, confirmCardSetup with the card element."""
    account_id = f"acc-{uuid.uuid4().hex[:8]}"
    customer_id = gateway.ensure_customer(account_id, f"{account_id}@example.com", None)
    setup = gateway.create_setup_intent(customer_id)
    payment_method_id = confirm_setup_intent_with_test_card(
        stripe_base_url, PUBLISHABLE_KEY, setup.id, setup.client_secret, card_number=card,
    )
    return customer_id, payment_method_id


class WebhookReceiver:
    """A stdlib HTTP server on a free port that keeps every POSTed body and its Stripe-Signature."""

    def __init__(self) -> None:
        received: queue.Queue[tuple[bytes, str]] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.put((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self._received = received
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/stripe"

    def wait_for(self, object_id: str, timeout_seconds: float = 10) -> tuple[bytes, str]:
        deadline = time.monotonic() + timeout_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                body, signature = self._received.get(timeout=remaining)
            except queue.Empty:
                break
            if object_id.encode() in body:
                return body, signature
        raise AssertionError(f"no webhook about {object_id} within {timeout_seconds} s")

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
