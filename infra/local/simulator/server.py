"""The partner simulator's HTTP server (stdlib only): the handler protocol plus `/_sim/` controls."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from chalicelib.domain.clock import Clock, SystemClock
from infra.local.simulator.config import parse_change
from infra.local.simulator.control import handle_control
from infra.local.simulator.handler_api import Reply, handle
from infra.local.simulator.http_base import SimulatorHandler, SimulatorServer
from infra.local.simulator.push import SmsPusher
from infra.local.simulator.state import SimState

HANDLER_PATH = "/stubs/handler_api.php"


class _SimServer(SimulatorServer):
    def __init__(self, address: tuple[str, int], state: SimState, pusher: SmsPusher, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.pusher = pusher
        self.verbose = verbose


class _Handler(SimulatorHandler):
    server: _SimServer

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == HANDLER_PATH:
            reply = handle(self.server.state, self._params(url.query, body))
        elif url.path.startswith("/_sim/"):
            reply = handle_control(self.server.state, self.server.pusher, self.command, url.path, body)
        else:
            reply = Reply(404, "Not Found")
        self._send(reply)

    def _params(self, query: str, body: bytes) -> dict[str, str]:
        """Query string and form body merged, the body winning (PHP's $_REQUEST order)."""
        params = _form(query)
        content_type = self.headers.get("Content-Type", "")
        if body and (not content_type or content_type.startswith("application/x-www-form-urlencoded")):
            params.update(_form(body.decode("utf-8", errors="replace")))
        return params

    def _send(self, reply: Reply) -> None:
        data = reply.body.encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except ConnectionError:
            self.close_connection = True


def _form(encoded: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(encoded, keep_blank_values=True).items()}


@dataclass
class SimulatorHandle:
    """A simulator running in background threads; `stop()` (or leaving a `with` block) shuts it down."""

    url: str
    port: int
    state: SimState
    _server: _SimServer
    _thread: threading.Thread

    @property
    def handler_url(self) -> str:
        return self.url + HANDLER_PATH

    def stop(self) -> None:
        self._server.pusher.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_simulator(port: int = 0, *, host: str = "127.0.0.1", clock: Clock | None = None, seed: int | None = None,
                    verbose: bool = False, **config: object) -> SimulatorHandle:
    """Start a simulator (port 0: a free one). `config` takes the keys of `POST /_sim/config`; a reset returns to it."""
    state = SimState(parse_change(config), clock or SystemClock(), random.Random(seed))
    pusher = SmsPusher(state)
    state.listener = pusher
    server = _SimServer((host, port), state, pusher, verbose)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="partner-simulator", daemon=True)
    thread.start()
    bound_port = int(server.server_address[1])
    return SimulatorHandle(f"http://{host}:{bound_port}", bound_port, state, server, thread)
