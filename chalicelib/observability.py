"""Powertools logger and metrics, created once and shared by routes, jobs and the admin Lambda.

Tracing is Lambda's active tracing (`"xray": true` per stage in .chalice/config.json): every invocation
is traced without the X-Ray SDK, whose import (two botocore clients) cost 125 ms of every cold start.
"""
from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "sms-rooms"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="SmsRooms", service=SERVICE)
