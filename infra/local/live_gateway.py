"""The local stand-in for API Gateway's WebSocket API: the same three events for the app's `on_ws_*` handlers and
the same management API (`POST`/`DELETE /<stage>/@connections/{id}`) for whoever pushes, on LIVE_PORT.

Deployed, a page's WebSocket ends at API Gateway, which invokes the app's connect, message and disconnect Lambdas
with `requestContext.{routeKey, connectionId, domainName, stage, identity.sourceIp}` and the handshake's headers,
and the app pushes with `apigatewaymanagementapi`. Here one thread per socket speaks RFC 6455 and calls the same
handlers in this process; the management routes write to (or close) the socket, for any process (the app's
workers, the scheduler). As API Gateway does, it refuses what it cannot carry before the app sees it: binary
frames (close 1003), messages over MAX_MESSAGE_BYTES (1009), text that is not UTF-8 (1007), unmasked or
malformed frames (1002). Started by infra/local/serve.py beside the app's workers; never packaged.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STAGE = "local"  # .chalice/config.json: the local stage's api_gateway_stage
MAX_MESSAGE_BYTES = 32 * 1024  # API Gateway's frame limit
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL, PROTOCOL_ERROR, UNSUPPORTED, NOT_UTF8, TOO_BIG = 1000, 1002, 1003, 1007, 1009


class Refused(Exception):
    """The peer broke the protocol: the socket closes with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Socket:
    """One accepted WebSocket: frames out under a lock (pushes come from other threads)."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.lock = threading.Lock()
        self.open = True

    def send(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        with self.lock:
            self.handler.wfile.write(header + payload)
            self.handler.wfile.flush()

    def read_message(self) -> str | None:
        """The next text message (pings answered, fragments joined); None when the peer closed; Refused when it
        broke the rules."""
        parts: list[bytes] = []
        while True:
            frame = self._read_frame()
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode == _PING:
                self.send(_PONG, payload)
                continue
            if opcode == _PONG:
                continue
            if opcode == _CLOSE:
                return None
            if opcode == _BINARY:
                raise Refused(UNSUPPORTED)
            if opcode not in (_TEXT, _CONTINUATION) or (opcode == _CONTINUATION) != bool(parts):
                raise Refused(PROTOCOL_ERROR)
            parts.append(payload)
            if sum(map(len, parts)) > MAX_MESSAGE_BYTES:
                raise Refused(TOO_BIG)
            if fin:
                try:
                    return b"".join(parts).decode("utf-8")
                except UnicodeDecodeError:
                    raise Refused(NOT_UTF8) from None

    def _read_frame(self) -> tuple[bool, int, bytes] | None:
        read = self.handler.rfile.read
        head = read(2)
        if len(head) < 2:
            return None
        fin, opcode, masked, size = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
        if not masked or head[0] & 0x70:
            raise Refused(PROTOCOL_ERROR)  # RFC 6455 5.1: a client's frames are masked; no extensions agreed
        if size == 126:
            size = struct.unpack("!H", read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", read(8))[0]
        if size > MAX_MESSAGE_BYTES:
            raise Refused(TOO_BIG)
        mask = read(4)
        data = read(size)
        if len(mask) < 4 or len(data) < size:
            return None
        return bool(fin), opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def close(self, code: int = NORMAL) -> None:
        """Send a close frame and end the connection (a peer that never answers cannot keep it)."""
        if not self.open:
            return
        self.open = False
        try:
            self.send(_CLOSE, struct.pack("!H", code))
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class LiveGateway:
    def __init__(self, app_module: Any, port: int) -> None:
        self.app_module = app_module
        self.port = port
        self.sockets: dict[str, Socket] = {}
        self.lock = threading.Lock()

    def invoke(self, route: str, connection_id: str, ip: str, *, headers: dict[str, str] | None = None,
               body: str | None = None) -> int:
        """Call the app's handler for `route` with the event API Gateway would send; its status code (500 when it
        raised, as API Gateway answers a failed integration)."""
        config = self.app_module.app.websocket_handlers[route]
        event = {"requestContext": {"routeKey": route, "eventType": route.strip("$").upper(),
                                    "connectionId": connection_id, "domainName": f"127.0.0.1:{self.port}",
                                    "stage": STAGE, "apiId": "local", "identity": {"sourceIp": ip},
                                    "requestTimeEpoch": int(time.time() * 1000)},
                 "isBase64Encoded": False, "body": body}
        if headers is not None:
            event["headers"] = headers
        try:
            reply = getattr(self.app_module, config.name)(event, None)
        except Exception:  # the app's log has it; the client sees what API Gateway would show
            return 500
        return int((reply or {}).get("statusCode", 200))

    def serve(self) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="live-gateway", daemon=True).start()
        return server


def _handler_for(gateway: LiveGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            key = self.headers.get("Sec-WebSocket-Key")
            if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
                self._answer(426, b'{"message":"Upgrade Required"}')
                return
            connection_id = base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()
            ip = str(self.client_address[0])
            status = gateway.invoke("$connect", connection_id, ip, headers=dict(self.headers.items()))
            if not 200 <= status < 300:
                self._answer(status, b'{"message":"Forbidden"}' if status == 403 else b'{"message":"Error"}')
                return
            accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            self._relay(Socket(self), connection_id, ip)

        def _relay(self, sock: Socket, connection_id: str, ip: str) -> None:
            with gateway.lock:
                gateway.sockets[connection_id] = sock
            code = NORMAL
            try:
                while sock.open and (message := sock.read_message()) is not None:
                    gateway.invoke("$default", connection_id, ip, body=message)
            except Refused as refused:
                code = refused.code
            except (OSError, struct.error):
                pass
            finally:
                with gateway.lock:
                    gateway.sockets.pop(connection_id, None)
                sock.close(code)
                gateway.invoke("$disconnect", connection_id, ip)
                self.close_connection = True

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sock = self._socket()
            if sock is None:
                return
            try:
                sock.send(_TEXT, data)
            except OSError:
                self._gone()
                return
            self._answer(200, b"")

        def do_DELETE(self) -> None:
            sock = self._socket()
            if sock is not None:
                sock.close()
                self._answer(204, b"")

        def _socket(self) -> Socket | None:
            """The socket a management route names (`/<stage>/@connections/<id>`), or None after answering 410."""
            path = urllib.parse.unquote(self.path)
            prefix = f"/{STAGE}/@connections/"
            with gateway.lock:
                sock = gateway.sockets.get(path[len(prefix):]) if path.startswith(prefix) else None
            if sock is None or not sock.open:
                self._gone()
                return None
            return sock

        def _gone(self) -> None:
            self._answer(410, json.dumps({"message": None}).encode(), {"x-amzn-ErrorType": "GoneException"})

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                                **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
