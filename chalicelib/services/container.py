"""Collaborators built once per process from the settings, lazily (nothing heavy at import time)."""
from __future__ import annotations

import functools

from chalicelib.config import get_settings, rebuilt_with_settings
from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.providers.mailer import Mailer, OutboxMailer, SesMailer
from chalicelib.providers.stripe_gateway import StripeGateway


@functools.cache
def clock() -> Clock:
    return SystemClock()


@rebuilt_with_settings
def mailer() -> Mailer:
    s = get_settings()
    if s.mail_outbox_dir:
        return OutboxMailer(s.mail_outbox_dir, s.mail_from)
    return SesMailer(s.mail_from, s.region)


@rebuilt_with_settings
def stripe_gateway() -> StripeGateway:
    s = get_settings()
    return StripeGateway(secret_key=s.stripe_secret_key, api_base=s.stripe_api_base,
                         webhook_secret=s.stripe_webhook_secret)
