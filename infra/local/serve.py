"""Serve the Chalice app over HTTP locally: Chalice's own local gateway (what `chalice local` runs: routes,
middleware, errors as API Gateway gives them), in one process per core, and the app's WebSocket handlers behind
a stand-in for API Gateway's WebSocket API (infra/local/live_gateway.py) on LIVE_PORT.

Every worker is a fork of one process that imported the app, and binds the port with SO_REUSEPORT, so the
kernel spreads new connections over the workers and each one is a separate Python (its own GIL, its own
DynamoDB client, its own short caches: like Lambda containers). The parent built that client as the app started
(chalicelib/startup.py) and each fork copies it before it has opened a connection: nothing may send a DynamoDB
request before the fork, or the workers would share its sockets. Within a worker each connection has a
thread, which ends with the connection. The parent only watches: SIGTERM or Ctrl-C stops every worker, and
a worker that dies takes the whole server down with it, so nothing half-serves unnoticed.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from typing import Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, ThreadedHTTPServer

from chalicelib.observability import redact
from chalicelib.store.base import connection
from infra.local.signals import stop_requested

_PR_SET_PDEATHSIG = 1  # prctl(2): a signal for this process when its parent dies


class GatewayHandler(ChaliceRequestHandler):
    # Headers and body leave in two writes; with Nagle's algorithm on, the body waits for the client's delayed
    # ACK of the headers (about 40 ms a response).
    disable_nagle_algorithm = True

    def _generic_handle(self) -> None:
        # The event's sourceIp is the TCP peer's address, as API Gateway sets it: Chalice local says 127.0.0.1
        # for every client, and per-IP sign-in throttles and guessing limits could not tell two clients apart
        # (the tests reach the stack from several 127.x.y.z addresses).
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = str(self.client_address[0])
        super()._generic_handle()

    def end_headers(self) -> None:
        # A client that asked to close (`Connection: close`) is told the connection closes after this answer, as
        # HTTP/1.1 wants (RFC 9112 9.6) and API Gateway does. BaseHTTPRequestHandler closes it without saying
        # so, and a client that pooled the connection then reused a closed one ("Remote end closed connection
        # without response": 10 % of the bench's new-connection orders at 50 clients).
        said = any(line.lower().startswith(b"connection:") for line in getattr(self, "_headers_buffer", []))
        if self.close_connection and self.request_version == "HTTP/1.1" and not said:  # send_error says it itself
            self.send_header("Connection", "close")
        super().end_headers()

    # Chalice binds its verbs to its own _generic_handle when its class is made: bind them to ours.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def log_message(self, format: str, *args: Any) -> None:
        """The access log line without credentials: the handler API takes `api_key` in the query string."""
        super().log_message("%s", redact(format % args))


class SharedPortServer(ThreadedHTTPServer):
    allow_reuse_port = True  # every worker binds the same port; the kernel balances connections between them
    request_queue_size = 128  # the stdlib's 5 resets connections when tens of clients connect at once


def serve(app: Any, config: Config, host: str, port: int) -> None:
    _request_per_thread(app)
    server = LocalDevServer(app, config, host, port, handler_cls=GatewayHandler, server_cls=SharedPortServer)
    connection().client  # noqa: B018  (the worker's one DynamoDB client: copied by the fork, or built now if the
    # app's start could not)
    server.serve_forever()


def _request_per_thread(app: Any) -> None:
    """`app.current_request` kept per thread, as Chalice's own `create_local_server` does.

    A Chalice app holds the request being served in one attribute: fine on Lambda (one request a container), but
    each connection here has a thread, and a request read another thread's request (its headers, its bearer
    token) whenever two overlapped. Chalice's LocalChalice makes the attribute thread-local.
    """
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--live-port", type=int, default=0,
                        help="where the WebSocket gateway for live updates listens (default: none; a second app on "
                             "the same stack pushes through the first one's)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("APP_WORKERS") or os.cpu_count() or 1),
                        help="processes serving the port (default: APP_WORKERS, else one per core)")
    args = parser.parse_args()
    from app import app  # imported once, before the fork: workers share its modules

    config = Config.create(chalice_stage="local", app_name="sms-rooms", chalice_app=app)
    workers = [_fork_worker(app, config, args.host, args.port) for _ in range(max(1, args.workers))]
    if args.live_port:
        # After the forks: a thread running in the parent would be half-copied into each worker.
        import app as app_module
        from infra.local.live_gateway import LiveGateway

        LiveGateway(app_module, args.live_port).serve()
    stopping = stop_requested()
    try:
        while not stopping.is_set():
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid in workers:
                print(f"serve: worker {pid} stopped; stopping the server", file=sys.stderr, flush=True)
                return 1
            stopping.wait(0.5)
        return 0
    finally:
        _stop(workers)


def _fork_worker(app: Any, config: Config, host: str, port: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _die_with_parent()
        serve(app, config, host, port)
    except BaseException:  # a worker must never return into the parent's code
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: this worker gets SIGTERM when the parent dies, even by SIGKILL, so none keeps the port."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(workers: list[int]) -> None:
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for pid in workers:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            continue


if __name__ == "__main__":
    sys.exit(main())
