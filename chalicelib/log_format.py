"""Powertools' JSON log lines, redacted (observability.redact_value): the formatter of the service's logger, loaded
with Powertools when the first line is written (observability.py)."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.observability import redact_value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, redacted after the record is built (message, extra keys and exception trace)."""

    def serialize(self, log: Any) -> str:
        # A client's unpaired surrogate in a logged value would make the stream's UTF-8 encoder fail the line:
        # it is written as its escape instead.
        line: str = super().serialize(redact_value(log))
        return line.encode("utf-8", "backslashreplace").decode("utf-8")
