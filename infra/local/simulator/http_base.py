"""What the simulators' HTTP servers share: threading, quiet logs, and clients that hang up being no error."""
from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True  # a call sleeping out its latency must not hold up stop()
    allow_reuse_address = True
    verbose = False

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that give up (read timeouts in tests) close the socket under a sleeping call: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class SimulatorHandler(BaseHTTPRequestHandler):
    """GET and POST both go to `_dispatch`; requests are logged only when the server is verbose."""

    protocol_version = "HTTP/1.1"  # keep-alive, as partner adapters reuse connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait 40 ms for an ACK between
    server: SimulatorServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        raise NotImplementedError
