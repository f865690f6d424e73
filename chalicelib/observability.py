"""Powertools logger and metrics, created once and shared by routes, jobs and the admin Lambda; every log line
passes through `redact`, so no password, token, API key or secret is ever written (the local server's access
log too: infra/local/serve.py).

Powertools (some 40 modules) loads with the first log line or metric, not with the app: a cold REST order writes
neither. Until then `logger` and `metrics` stand for them, and the service's logger (which is also Chalice's
`app.log`) has a stand-in handler: Chalice adds none of its own, and the first record builds Powertools' logger and
is written by it, so no line is ever written unredacted.

Tracing is Lambda's active tracing (`"xray": true` per stage in .chalice/config.json): every invocation
is traced without the X-Ray SDK, whose import (two botocore clients) cost 125 ms of every cold start.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE = "sms-rooms"
NAMESPACE = "SmsRooms"
REDACTED = "[redacted]"

# The patterns stay text until the first line is redacted: re compiles each then and keeps it (its own cache),
# so importing this module compiles none (a cold order writes no line).
# A field whose name says it holds a credential: its whole value goes.
_CREDENTIAL_FIELD = r"(?i)pass(word)?|secret|token|api_?key|^key$|authorization|signature|cookie"
_NAMES = r"[\w-]*(?:pass(?:word)?|secret|token|api_?key|key|signature)"
_SECRET_IN_TEXT = [
    # name=value in query strings, forms and messages (api_key=…, token=…, client_secret=…)
    (rf"(?i)\b({_NAMES})=[^&\s\"'#,;]+", rf"\1={REDACTED}"),
    # "name": "value" in JSON written into a message or a trace
    (rf"(?i)(\"{_NAMES}\"\s*:\s*\")[^\"]*\"", rf'\1{REDACTED}"'),
    # 'name': 'value' in a repr() written into a trace
    (rf"(?i)('{_NAMES}'\s*:\s*')[^']*'", rf"\1{REDACTED}'"),
    # an Authorization header's value
    (r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}", rf"\1 {REDACTED}"),
    # our own API keys and webhook secrets, wherever they stand (a path, a repr, a message)
    (r"\b(smsr|whsec)_[\w-]{16,}", rf"\1_{REDACTED}"),
    # reset and verification links carry their token in the path or fragment
    (r"(?i)(/(?:reset|verify|reset-password|verify-email)/)[\w-]{16,}", rf"\1{REDACTED}"),
]


def redact(text: str) -> str:
    """`text` with every credential it shows replaced by [redacted]."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = re.sub(pattern, replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A log record's value, with credential-named fields blanked and credentials in strings redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and re.search(_CREDENTIAL_FIELD, k) and v else redact_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value))  # an exception, a Decimal…: what the JSON serializer would write, redacted


def emit_counts(counts: Mapping[str, int]) -> None:
    """Counts written now as one CloudWatch metrics line (EMF), for the alarms that watch them (infra/operations.py)."""
    from aws_lambda_powertools.metrics import MetricUnit

    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


T = TypeVar("T")
_building = threading.RLock()


class _BuiltOnFirstUse(Generic[T]):
    """Stands for a Powertools object until one of its attributes is read; then builds it, once, and passes that
    read and every later one to it."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: T | None = None

    def built(self) -> T:
        built = self._built  # set once, when whole: every read after that takes no lock
        if built is not None:
            return built
        with _building:
            if self._built is None:
                self._built = self._build()
            return self._built

    def __getattr__(self, name: str) -> Any:
        return getattr(self.built(), name)


class _LoggerOnFirstLine(_BuiltOnFirstUse["Logger"]):
    """The keys every event appends (api/middleware.log_context) are kept here until the first line is written."""

    def __init__(self, build: Callable[[], Logger]) -> None:
        super().__init__(lambda: self._with_keys(build()))
        self._keys: dict[str, Any] = {}

    def _with_keys(self, logger: Logger) -> Logger:
        logger.append_keys(**self._keys)
        return logger

    def append_keys(self, **keys: Any) -> None:
        built = self._built
        if built is None:
            with _building:
                built = self._built
                if built is None:
                    self._keys.update(keys)
                    return
        built.append_keys(**keys)


class _StandIn(logging.StreamHandler):  # type: ignore[type-arg]
    """The service logger's handler until Powertools' is: a stdout stream handler, so Chalice adds none of its own
    (it would write its errors unredacted); its first record builds Powertools' logger and goes to its handler."""

    def emit(self, record: logging.LogRecord) -> None:
        _logger.built().registered_handler.handle(record)


def _powertools_logger() -> Logger:
    from aws_lambda_powertools import Logger

    from chalicelib.log_format import RedactingFormatter

    # Its stream is the stand-in's: the stdout this module was imported with, whoever redirects stdout since.
    built = Logger(service=SERVICE, logger_formatter=RedactingFormatter(), stream=_STAND_IN.stream)
    logging.getLogger(SERVICE).removeHandler(_STAND_IN)
    return built


def _powertools_metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    from chalicelib.config import get_environment_settings

    built = Metrics(namespace=NAMESPACE, service=SERVICE)
    # Alarms watch each stage's metrics apart (infra/operations.py): dev and prod may share an account.
    built.set_default_dimensions(stage=get_environment_settings().stage)
    return built


_STAND_IN = _StandIn(sys.stdout)
logging.getLogger(SERVICE).addHandler(_STAND_IN)
_logger = _LoggerOnFirstLine(_powertools_logger)
logger = cast("Logger", _logger)
metrics = cast("Metrics", _BuiltOnFirstUse(_powertools_metrics))
