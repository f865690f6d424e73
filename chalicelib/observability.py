"""Powertools logger, metrics and tracer, created once and shared by routes, jobs and the admin Lambda."""
from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "sms-rooms"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="SmsRooms", service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=True, auto_patch=False)

_SECRET_FIELDS = ("password", "token", "api_key", "secret", "authorization", "card", "client_secret")


def redact(fields: dict[str, object]) -> dict[str, object]:
    """A copy of a mapping safe to log: values of secret-looking keys are replaced."""
    return {k: ("***" if any(s in k.lower() for s in _SECRET_FIELDS) else v) for k, v in fields.items()}
