"""Outbound HTTP to URLs users give us (their SMS webhook), reaching public addresses only (SSRF).

The name is resolved once, every address it resolves to is checked, and the connection is made to the
checked address itself while TLS (SNI, certificate) and the Host header keep the name: a DNS answer that
changes between the check and the connection (rebinding) cannot steer us inside the network. Redirects
are never followed (http.client does not), timeouts are short and at most a few bytes of the answer are read.
"""
from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.domain.public_address import IpAddress, UnsafeHost, host_address, is_public, refuse_local_name
from chalicelib.providers.tls import tls_context

Resolver = Callable[[str, int], list[str]]
_LOOPBACK_NAMES = ("localhost", "localhost.")
RESPONSE_BYTES_READ = 1024


class UnresolvedHost(Exception):
    """The name has no address (now): not unsafe, just not deliverable yet."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvedHost(str(exc)) from None
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """A URL split into what the connection needs."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


class OutboundPolicy:
    """Where a user's URL may point: https (unless told otherwise) to public addresses (loopback if allowed)."""

    def __init__(self, *, https_only: bool, allow_loopback: bool, resolver: Resolver = system_resolver) -> None:
        self.https_only = https_only
        self.allow_loopback = allow_loopback
        self.resolver = resolver

    def target(self, url: str) -> Target:
        """The URL's parts, checked without DNS; raises UnsafeHost with a reason fit for the user."""
        if not url.isascii():
            raise UnsafeHost("must be ASCII: percent-encode other characters, and write a host in its xn-- form")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UnsafeHost("is not a valid URL") from None
        allowed = ("https",) if self.https_only else ("http", "https")
        if parts.scheme not in allowed or not parts.hostname:
            raise UnsafeHost("must be an absolute https:// URL" if self.https_only
                             else "must be an absolute http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise UnsafeHost("must not carry a user name or password")
        host = parts.hostname
        literal = host_address(host)
        if literal is not None:
            self._check(literal)
        elif not (self.allow_loopback and host in _LOOPBACK_NAMES):
            refuse_local_name(host)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)

    def addresses(self, target: Target) -> list[IpAddress]:
        """Every address the host resolves to, each checked; raises UnsafeHost or UnresolvedHost."""
        literal = host_address(target.host)
        if literal is not None:
            return [literal]
        found = [host_address(raw.split("%", 1)[0]) for raw in self.resolver(target.host, target.port)]
        addresses = [a for a in found if a is not None]
        if not addresses:
            raise UnresolvedHost(target.host)
        for address in addresses:
            self._check(address)
        return addresses

    def _check(self, address: IpAddress) -> None:
        if is_public(address) or (self.allow_loopback and address.is_loopback):
            return
        raise UnsafeHost("points at a private, local or reserved address, which is never called")


def post_pinned(target: Target, address: IpAddress, body: bytes, headers: dict[str, str], *,
                timeout_seconds: float) -> int:
    """POST `body` to `target` over a connection to `address`; the answer's status. Raises OSError/HTTPException."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHttps(target.host, target.port, address, timeout_seconds)
    else:
        connection = _PinnedHttp(target.host, target.port, address, timeout_seconds)
    try:
        connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": target.host_header, "Content-Length": str(len(body)), **headers}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        response.read(RESPONSE_BYTES_READ)  # never more: a huge or endless answer costs us nothing
        return response.status
    finally:
        connection.close()


class _PinnedHttp(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: IpAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHttps(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: IpAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=tls_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]

