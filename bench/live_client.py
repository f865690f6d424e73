"""A minimal WebSocket client (RFC 6455 over a plain socket) for the live-updates bench and tests: the
handshake with chosen headers, masked frames out (text, binary, anything), frames in, and the close code."""
from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


class HandshakeRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class LiveClient:
    def __init__(self, url: str, *, origin: str | None = None, timeout: float = 5) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = int(self.file.readline().split()[1])
        while self.file.readline() not in (b"\r\n", b""):
            pass
        if status != 101:
            self.sock.close()
            raise HandshakeRefused(status)

    def send(self, payload: bytes | str, opcode: int = TEXT) -> None:
        data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        mask = os.urandom(4)
        size = len(data)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def auth(self, token: str) -> dict[str, Any]:
        self.send(json.dumps({"action": "auth", "token": token}))
        return self.receive()

    def frame(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload); (CLOSE, b"") when the connection ended."""
        head = self.file.read(2)
        if len(head) < 2:
            return CLOSE, b""
        size = head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.file.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.file.read(8))[0]
        return head[0] & 0x0F, self.file.read(size)

    def receive(self) -> dict[str, Any]:
        """The next text message, parsed; AssertionError if the server closed instead."""
        opcode, payload = self.frame()
        assert opcode == TEXT, (opcode, payload)
        return dict(json.loads(payload))

    def close_code(self) -> int | None:
        """Read until the server closes; its close code (None: it dropped the connection without one)."""
        while True:
            opcode, payload = self.frame()
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> LiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
