"""Powertools logger and metrics, created once and shared by routes, jobs and the admin Lambda; every log line
passes through `redact`, so no password, token, API key or secret is ever written (the local server's access
log too: infra/local/serve.py).

Tracing is Lambda's active tracing (`"xray": true` per stage in .chalice/config.json): every invocation
is traced without the X-Ray SDK, whose import (two botocore clients) cost 125 ms of every cold start.
"""
from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "sms-rooms"
REDACTED = "[redacted]"

# A field whose name says it holds a credential: its whole value goes.
_SECRET_NAME = re.compile(r"(?i)pass(word)?|secret|token|api_?key|^key$|authorization|signature|cookie")
_NAMES = r"[\w-]*(?:pass(?:word)?|secret|token|api_?key|key|signature)"
_SECRET_IN_TEXT = [
    # name=value in query strings, forms and messages (api_key=…, token=…, client_secret=…)
    (re.compile(rf"(?i)\b({_NAMES})=[^&\s\"'#,;]+"), rf"\1={REDACTED}"),
    # "name": "value" in JSON written into a message or a trace
    (re.compile(rf"(?i)(\"{_NAMES}\"\s*:\s*\")[^\"]*\""), rf'\1{REDACTED}"'),
    # 'name': 'value' in a repr() written into a trace
    (re.compile(rf"(?i)('{_NAMES}'\s*:\s*')[^']*'"), rf"\1{REDACTED}'"),
    # an Authorization header's value
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # our own API keys and webhook secrets, wherever they stand (a path, a repr, a message)
    (re.compile(r"\b(smsr|whsec)_[\w-]{16,}"), rf"\1_{REDACTED}"),
    # reset and verification links carry their token in the path or fragment
    (re.compile(r"(?i)(/(?:reset|verify|reset-password|verify-email)/)[\w-]{16,}"), rf"\1{REDACTED}"),
]


def redact(text: str) -> str:
    """`text` with every credential it shows replaced by [redacted]."""
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A log record's value, with credential-named fields blanked and credentials in strings redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_NAME.search(k) and v else redact_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if value is None or isinstance(value, int | float):
        return value
    return redact(str(value))  # an exception, a Decimal…: what the JSON serializer would write, redacted


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, redacted after the record is built (message, extra keys and exception trace)."""

    def serialize(self, log: Any) -> str:
        # A client's unpaired surrogate in a logged value would make the stream's UTF-8 encoder fail the line:
        # it is written as its escape instead.
        line: str = super().serialize(redact_value(log))
        return line.encode("utf-8", "backslashreplace").decode("utf-8")


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(namespace="SmsRooms", service=SERVICE)
