"""Collaborators built once per process from the settings, lazily (nothing heavy at import time)."""
from __future__ import annotations

import functools

from chalicelib.config import Settings, get_settings, rebuilt_with_settings
from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.providers.mailer import Mailer, OutboxMailer, SesMailer
from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.platform.mail_outbox import DurableMailer


@functools.cache
def clock() -> Clock:
    return SystemClock()


@rebuilt_with_settings
def mailer() -> DurableMailer:
    """Every email goes through the outbox's mailer: a message SES refuses is kept and sent again, never dropped."""
    return DurableMailer(_sender(get_settings()), clock())


def _sender(s: Settings) -> Mailer:
    if s.mail_outbox_dir:
        return OutboxMailer(s.mail_outbox_dir, s.mail_from, s.support_email)
    return SesMailer(s.mail_from, s.region, s.support_email)


@rebuilt_with_settings
def stripe_gateway() -> StripeGateway:
    s = get_settings()
    return StripeGateway(secret_key=s.stripe_secret_key, api_base=s.stripe_api_base,
                         webhook_secret=s.stripe_webhook_secret)
