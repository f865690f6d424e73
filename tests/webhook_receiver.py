"""A bot's webhook endpoint for tests: a real HTTP server on loopback that records what it is sent."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """A bot's webhook endpoint: records every POST and answers 500 to the first one of an activation's stream
    while `fail_first_of_activation` is set."""

    fail_first_of_activation: bool = False
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            first = str(json.loads(body).get("stream", "")).startswith("activation:") and not any(
                r.event["stream"].startswith("activation:") for r in self.received)
            status = 500 if first and self.fail_first_of_activation else 200
            self.received.append(Received(headers, body, status))
            return status

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.answered == 200]


@contextmanager
def receiving(found: Receiver) -> Iterator[tuple[Receiver, str]]:
    """`found` listening on a free loopback port, and its URL, for the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = found.take({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def signed_by(secret: str, received: Received) -> bool:
    """Whether the POST carries the hex HMAC-SHA256 of its raw body under `secret`, as a receiver checks it."""
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["x-smsrooms-signature"], expected)
