"""What every partner adapter does on the wire: timeouts, retries of reads, the circuit, money parsing."""
from __future__ import annotations

import decimal
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlencode

import urllib3  # botocore's HTTP stack, loaded in every process anyway: partner calls cost no import of their own

from chalicelib.domain.clock import Clock
from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.providers.circuit import CircuitBreaker
from chalicelib.providers.tls import tls_context

T = TypeVar("T")

# Anything a parser can raise on a reply that is not what the protocol promised: the reply is garbage.
PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, decimal.InvalidOperation)

# Every currency our partners quote (USD, EUR, RUB…) has cents; a zero-decimal currency would need its own entry.
_MINOR_PER_MAJOR = Decimal(100)

# A partner's largest honest reply is its whole price list, a few MB; beyond this it is refused unread (after
# decompression: a small gzip bomb is cut off at this size too).
MAX_REPLY_BYTES = 32 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# What requests sent by default, but for the name: adapters add or override their protocol's own headers.
_DEFAULT_HEADERS = {"User-Agent": "sms-rooms/1", "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
                    "Connection": "keep-alive"}


# The values here are NamedTuples, immutable as frozen dataclasses are, at a sixth of their cost to define: this
# module loads on a cold container's first order.
class HttpPolicy(NamedTuple):
    """How long to wait for a partner, how often to retry a read, how large a reply may be."""

    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0  # the longest silence while the reply comes, as requests meant it
    read_retries: int = 2
    retry_backoff_seconds: float = 0.2
    max_reply_bytes: int = MAX_REPLY_BYTES


class PartnerLink(NamedTuple):
    """What the composition root hands every adapter it builds: the wire policy, the partner's circuit, the clock."""

    policy: HttpPolicy
    breaker: CircuitBreaker
    clock: Clock


class PartnerReply(NamedTuple):
    """A partner's whole answer, as its parser sees it."""

    status: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes

    @property
    def text(self) -> str:
        """The body as text: UTF-8 unless the partner names a charset (requests guessed Latin-1 for text/*); a
        charset Python lacks or cannot decode leniently (a bogus name, `base64`, `idna`…) is read as UTF-8 too."""
        charset = _charset_of(self.headers.get("Content-Type", ""))
        if charset:
            try:
                return self.body.decode(charset, errors="replace")
            except (LookupError, ValueError):
                pass
        return self.body.decode("utf-8", errors="replace")


class PartnerHttp:
    """One partner's HTTP calls behind its circuit breaker.

    `read` is for idempotent calls and retries timeouts, connection errors, 5xx and garbage with a small
    backoff; `send` is for calls that change state at the partner (buy, cancel, finish) and never retries,
    because a retried purchase may rent a second number. A parser turns the reply into a result or raises
    PartnerNoNumbers / PartnerRejected (the partner is alive: the circuit counts a success) or
    PartnerUnavailable (the circuit counts a failure). Calls are GETs with query parameters, or, given
    `post_body`, POSTs of the parameters it encodes (protocols without GET, such as the SMSHub agent's).

    The wire is urllib3's (one pool of kept-alive connections per partner host, per process), TLS verified
    against certifi's bundle. Redirects are not followed, unlike requests did: a partner's URL is configured, a
    redirect means it moved (or something answers in its place), and following it would carry the API key of the
    query string, or a purchase, to wherever `Location` points. A 3xx is PartnerUnavailable, as a 5xx is, so the
    circuit and the logs show it. Errors name the exception's type only: the URL holds the key.
    """

    def __init__(self, name: str, breaker: CircuitBreaker | None, policy: HttpPolicy,
                 sleep: Callable[[float], None] = time.sleep, *,
                 post_body: Callable[[Mapping[str, Any]], bytes] | None = None) -> None:
        self.name = name
        self.breaker = breaker or CircuitBreaker(name=name)
        self.policy = policy
        self._sleep = sleep
        self._post_body = post_body
        self._timeout = urllib3.Timeout(connect=policy.connect_timeout_seconds, read=policy.read_timeout_seconds)

    def read(self, url: str, parse: Callable[[PartnerReply], T], *, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> T:
        return self._call(url, parse, params, headers, attempts=1 + self.policy.read_retries)

    def send(self, url: str, parse: Callable[[PartnerReply], T], *, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> T:
        return self._call(url, parse, params, headers, attempts=1)

    def _call(self, url: str, parse: Callable[[PartnerReply], T], params: Mapping[str, Any] | None,
              headers: Mapping[str, str] | None, attempts: int) -> T:
        self.breaker.raise_if_open()
        failure = PartnerUnavailable(f"{self.name}: no attempt made")
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.policy.retry_backoff_seconds * attempt)
            try:
                result = self._parse(parse, self._exchange(url, params, headers))
            except PartnerUnavailable as exc:
                failure = exc
                continue
            except (PartnerNoNumbers, PartnerRejected):
                self.breaker.record_success()
                raise
            self.breaker.record_success()
            return result
        self.breaker.record_failure()
        raise failure

    def _exchange(self, url: str, params: Mapping[str, Any] | None,
                  headers: Mapping[str, str] | None) -> PartnerReply:
        if self._post_body is None:
            method, target, body = "GET", with_query(url, params), None
        else:
            method, target, body = "POST", url, self._post_body(params or {})
        try:
            response = _pools_for(url).urlopen(method, target, body=body,
                                               headers={**_DEFAULT_HEADERS, **(headers or {})}, retries=False,
                                               redirect=False, timeout=self._timeout, preload_content=False)
            reply = PartnerReply(response.status, response.headers, self._whole_body(response))
        except urllib3.exceptions.HTTPError as exc:
            # `from None`: urllib3's errors keep the URL (and so the key) as an attribute; nothing may log it.
            raise PartnerUnavailable(f"{self.name}: {type(exc).__name__}") from None
        if reply.status >= 500 or 300 <= reply.status < 400:
            raise PartnerUnavailable(f"{self.name}: HTTP {reply.status}")
        return reply

    def _whole_body(self, response: urllib3.BaseHTTPResponse) -> bytes:
        """The body, decompressed, up to the policy's size; the connection goes back to the pool once it is read."""
        chunks, size = [], 0
        try:
            for chunk in response.stream(_CHUNK_BYTES):
                size += len(chunk)
                if size > self.policy.max_reply_bytes:
                    response.close()  # the rest stays unread: the connection cannot serve another call
                    raise PartnerUnavailable(f"{self.name}: reply larger than {self.policy.max_reply_bytes} bytes")
                chunks.append(chunk)
        finally:
            response.release_conn()
        return b"".join(chunks)

    def _parse(self, parse: Callable[[PartnerReply], T], response: PartnerReply) -> T:
        try:
            return parse(response)
        except PARSE_ERRORS as exc:
            raise garbage(self.name, response.text) from exc


def with_query(url: str, params: Mapping[str, Any] | None) -> str:
    """`url` with `params` in its query, byte for byte as requests wrote them (partners compare): UTF-8, `+` for a
    space, every reserved character escaped, a list or tuple as its key repeated, a None left out."""
    pairs = [(key, value) for key, values in (params or {}).items() for value in _values(values) if value is not None]
    if not pairs:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(pairs, doseq=True)}"


def _values(value: Any) -> Iterable[Any]:
    return [value] if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") else value


def _charset_of(content_type: str) -> str:
    """The `charset` parameter of a Content-Type header, unquoted; '' when there is none."""
    for parameter in content_type.split(";")[1:]:
        name, equals, value = parameter.partition("=")
        if equals and name.strip(" \"'").lower() == "charset":
            return value.strip(" \"'")
    return ""


_PLAIN_POOLS = urllib3.PoolManager(num_pools=16, maxsize=16, block=False)


@functools.cache
def _tls_pools() -> urllib3.PoolManager:
    """Built on the first https call: the CA bundle is loaded then, once per process, not per connection."""
    return urllib3.PoolManager(num_pools=16, maxsize=16, block=False, ssl_context=tls_context())


def _pools_for(url: str) -> urllib3.PoolManager:
    """Connections are kept per host (a pool of up to 16 each, more opened and closed when a burst needs them)."""
    return _tls_pools() if url[:6].lower() == "https:" else _PLAIN_POOLS


def garbage(name: str, body: str) -> PartnerUnavailable:
    """The error for a reply the protocol does not allow (an HTML error page, a truncated body…)."""
    return PartnerUnavailable(f"{name}: unexpected reply {body[:80]!r}")


def cost_to_minor(amount: Decimal) -> int:
    """A price in major units → minor units, rounded up: we never under-estimate what a number costs us."""
    return int((amount * _MINOR_PER_MAJOR).to_integral_value(rounding=ROUND_CEILING))


def balance_to_minor(amount: Decimal) -> int:
    """A balance in major units → minor units, rounded down: we never over-estimate what we can spend."""
    return int((amount * _MINOR_PER_MAJOR).to_integral_value(rounding=ROUND_FLOOR))


def minor_to_major(minor: int) -> str:
    """Minor units → the decimal string partners expect in a query (`25` → `0.25`)."""
    return str((Decimal(minor) / _MINOR_PER_MAJOR).quantize(Decimal("0.01")))


def to_decimal(value: object) -> Decimal:
    """A JSON number or numeric string as an exact Decimal; anything else is garbage (ValueError)."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueError(f"not a number: {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return amount
