"""What every partner adapter does on the wire: timeouts, retries of reads, the circuit, money parsing."""
from __future__ import annotations

import decimal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar

import requests

from chalicelib.domain.clock import Clock
from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.providers.circuit import CircuitBreaker

T = TypeVar("T")

# Anything a parser can raise on a reply that is not what the protocol promised: the reply is garbage.
PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, decimal.InvalidOperation)

# Every currency our partners quote (USD, EUR, RUB…) has cents; a zero-decimal currency would need its own entry.
_MINOR_PER_MAJOR = Decimal(100)


@dataclass(frozen=True)
class HttpPolicy:
    """How long to wait for a partner and how often to retry a read."""

    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    read_retries: int = 2
    retry_backoff_seconds: float = 0.2


@dataclass(frozen=True)
class PartnerLink:
    """What the composition root hands every adapter it builds: the wire policy, the partner's circuit, the clock."""

    policy: HttpPolicy
    breaker: CircuitBreaker
    clock: Clock


class PartnerHttp:
    """One partner's HTTP session behind its circuit breaker.

    `read` is for idempotent calls and retries timeouts, connection errors, 5xx and garbage with a small
    backoff; `send` is for calls that change state at the partner (buy, cancel, finish) and never retries,
    because a retried purchase may rent a second number. A parser turns the reply into a result or raises
    PartnerNoNumbers / PartnerRejected (the partner is alive: the circuit counts a success) or
    PartnerUnavailable (the circuit counts a failure). Calls are GETs with query parameters, or, given
    `post_body`, POSTs of the parameters it encodes (protocols without GET, such as the SMSHub agent's).
    """

    def __init__(self, name: str, session: requests.Session | None, breaker: CircuitBreaker | None,
                 policy: HttpPolicy, sleep: Callable[[float], None] = time.sleep, *,
                 post_body: Callable[[Mapping[str, Any]], bytes] | None = None) -> None:
        self.name = name
        self.session = session or requests.Session()
        self.breaker = breaker or CircuitBreaker(name=name)
        self.policy = policy
        self._sleep = sleep
        self._post_body = post_body

    def read(self, url: str, parse: Callable[[requests.Response], T], *, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> T:
        return self._call(url, parse, params, headers, attempts=1 + self.policy.read_retries)

    def send(self, url: str, parse: Callable[[requests.Response], T], *, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> T:
        return self._call(url, parse, params, headers, attempts=1)

    def _call(self, url: str, parse: Callable[[requests.Response], T], params: Mapping[str, Any] | None,
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
                  headers: Mapping[str, str] | None) -> requests.Response:
        timeout = (self.policy.connect_timeout_seconds, self.policy.read_timeout_seconds)
        try:
            if self._post_body is None:
                response = self.session.get(url, params=params, headers=headers, timeout=timeout)
            else:
                response = self.session.post(url, data=self._post_body(params or {}), headers=headers,
                                             timeout=timeout)
        except requests.RequestException as exc:
            raise PartnerUnavailable(f"{self.name}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise PartnerUnavailable(f"{self.name}: HTTP {response.status_code}")
        return response

    def _parse(self, parse: Callable[[requests.Response], T], response: requests.Response) -> T:
        try:
            return parse(response)
        except PARSE_ERRORS as exc:
            raise garbage(self.name, body_text(response)) from exc


def body_text(response: requests.Response) -> str:
    """The reply as text: UTF-8 unless the partner names a charset (requests would guess Latin-1 for text/*)."""
    if "charset=" in response.headers.get("Content-Type", "").lower():
        return response.text
    return response.content.decode("utf-8", errors="replace")


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
