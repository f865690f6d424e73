"""A partner for tests that answers whatever it is told, over real HTTP on loopback: canned bodies, hostile replies."""
from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Asked:
    """One request as it arrived: the raw target (path and query as sent), its query, headers and body."""

    method: str
    target: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Canned:
    """One answer: `stall_seconds` of silence after the headers and the first half of the body."""

    body: bytes = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain"),)
    stall_seconds: float = 0.0


@dataclass
class CannedPartner:
    answer: Callable[[Asked], Canned]
    url: str = ""
    asked: list[Asked] = field(default_factory=list)


@contextmanager
def canned_partner(answer: Callable[[Asked], Canned], tls: ssl.SSLContext | None = None) -> Iterator[CannedPartner]:
    """A server on a free loopback port answering each request with `answer(request)`, for the block."""
    partner = CannedPartner(answer)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            asked = Asked(self.command, self.path, {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()},
                          {k.lower(): v for k, v in self.headers.items()}, body)
            partner.asked.append(asked)
            canned = partner.answer(asked)
            self.send_response(canned.status)
            for name, value in canned.headers:
                self.send_header(name, value)
            if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in canned.headers):
                self.send_header("Content-Length", str(len(canned.body)))
            self.end_headers()
            half = len(canned.body) // 2
            self.wfile.write(canned.body[:half])
            self.wfile.flush()
            time.sleep(canned.stall_seconds)
            self.wfile.write(canned.body[half:])

        do_GET = do_POST = _serve

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, ssl.SSLError):
                return  # the client hung up (a timeout, a refused certificate): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    partner.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    try:
        yield partner
    finally:
        server.shutdown()
        server.server_close()
