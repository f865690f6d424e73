"""Settings: one typed object read from the environment, with the local defaults of API.md."""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class PartnerSettings:
    name: str
    protocol: str  # "sms-activate" | "5sim" | "smshub_agent"
    base_url: str
    api_key: str
    priority: int = 0
    currency: str = "USD"
    rate_to_base: Decimal = Decimal(1)  # multiply partner minor units by this to get ours
    # smshub_agent only: what we pay the agent per number, in its currency's minor units, keyed
    # "<service>:<country>", "<service>" or "*" (most specific wins). A pair tuple keeps Settings hashable.
    prices: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    app_name: str = "sms-rooms"
    region: str = "us-east-1"
    table_prefix: str = "smsrooms-local-"
    dynamodb_endpoint: str | None = "http://127.0.0.1:8001"
    public_base_url: str = "http://127.0.0.1:8000"
    currency: str = "USD"

    stripe_secret_key: str = "sk_test_local"
    stripe_publishable_key: str = "pk_test_local"
    stripe_webhook_secret: str = "whsec_local"
    stripe_api_base: str | None = "http://127.0.0.1:8420"
    stripe_js_url: str = "http://127.0.0.1:8420/js.stripe.com/v3/"
    topup_min_cents: int = 100
    topup_max_cents: int = 100_000
    refund_fee_cents: int = 0

    partners: tuple[PartnerSettings, ...] = field(default_factory=tuple)
    partner_connect_timeout_seconds: float = 2.0
    partner_read_timeout_seconds: float = 5.0
    partner_push_secret: str = "sim-push-secret"

    activation_lifetime_seconds: int = 1200
    cancel_grace_seconds: int = 120
    status_refresh_min_seconds: int = 3
    # The poll job's sweep: one cycle locally (the local scheduler runs it every 2 s); deployed stages
    # set POLL_SWEEP_SECONDS so one invocation a minute polls every POLL_EVERY_SECONDS while numbers wait.
    poll_sweep_seconds: float = 0.0
    poll_every_seconds: float = 5.0
    pending_resolve_after_seconds: int = 60
    refunds_enabled: bool = True
    markup_percent: Decimal = Decimal(30)

    mail_outbox_dir: str | None = ".local/outbox"
    mail_from: str = "SMS Rooms <no-reply@sms-rooms.local>"
    session_ttl_seconds: int = 7 * 24 * 3600
    verify_token_ttl_seconds: int = 24 * 3600
    reset_token_ttl_seconds: int = 3600
    activity_retention_days: int = 180
    agreement_version: str = "1"
    login_ip_free_failures: int = 30  # failed sign-ins one IP may make before it must wait (a NAT: raise it)
    rate_limit_per_second: int = 20
    rate_limit_burst: int = 100

    @property
    def is_local(self) -> bool:
        return self.dynamodb_endpoint is not None


def _partners_from(raw: str | None) -> tuple[PartnerSettings, ...]:
    if not raw:
        return ()
    items = json.loads(raw)
    return tuple(
        PartnerSettings(
            name=p["name"], protocol=p.get("protocol", "sms-activate"), base_url=p["base_url"],
            api_key=p["api_key"], priority=int(p.get("priority", 0)), currency=p.get("currency", "USD"),
            rate_to_base=Decimal(str(p.get("rate_to_base", "1"))),
            prices=_prices_from(p.get("prices") or {}),
        )
        for p in items
    )


def _prices_from(raw: Mapping[str, object]) -> tuple[tuple[str, int], ...]:
    """A partner's price table: whole minor units only, so money never passes through a float."""
    prices = tuple((str(key), value) for key, value in raw.items()
                   if isinstance(value, int) and not isinstance(value, bool) and value > 0)
    if len(prices) != len(raw):
        raise ValueError(f"partner prices must be positive whole minor units: {dict(raw)!r}")
    return prices


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return value


def _bool(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping; unknown or empty variables keep the defaults."""
    d = Settings()
    get = env.get
    stage = get("STAGE", d.stage)
    ddb_port = get("DYNAMODB_PORT", "8001")
    stripe_port = get("STRIPE_PORT", "8420")
    app_port = get("APP_PORT", "8000")
    sim_port = get("PARTNER_SIM_PORT", "8002")
    local = stage == "local"
    default_partners = json.dumps([{"name": "sim", "protocol": "sms-activate",
                                    "base_url": f"http://127.0.0.1:{sim_port}/stubs/handler_api.php",
                                    "api_key": "sim-key"}]) if local else ""
    ddb_endpoint = get("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{ddb_port}" if local else "")
    stripe_base = get("STRIPE_API_BASE", f"http://127.0.0.1:{stripe_port}" if local else "")
    return Settings(
        stage=stage,
        app_name=get("APP_NAME", d.app_name),
        region=get("AWS_REGION", get("AWS_DEFAULT_REGION", d.region)),
        table_prefix=get("TABLE_PREFIX", f"smsrooms-{stage}-"),
        dynamodb_endpoint=ddb_endpoint or None,
        public_base_url=get("PUBLIC_BASE_URL", f"http://127.0.0.1:{app_port}"),
        currency=get("CURRENCY", d.currency),
        stripe_secret_key=get("STRIPE_SECRET_KEY", d.stripe_secret_key),
        stripe_publishable_key=get("STRIPE_PUBLISHABLE_KEY", d.stripe_publishable_key),
        stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET", d.stripe_webhook_secret),
        stripe_api_base=stripe_base or None,
        stripe_js_url=get("STRIPE_JS_URL", f"{stripe_base}/js.stripe.com/v3/" if stripe_base
                          else "https://js.stripe.com/v3/"),
        topup_min_cents=int(get("TOPUP_MIN_CENTS", d.topup_min_cents)),
        topup_max_cents=int(get("TOPUP_MAX_CENTS", d.topup_max_cents)),
        refund_fee_cents=int(get("REFUND_FEE_CENTS", d.refund_fee_cents)),
        partners=_partners_from(get("PARTNERS_JSON", default_partners)),
        partner_connect_timeout_seconds=float(get("PARTNER_CONNECT_TIMEOUT_SECONDS",
                                                  d.partner_connect_timeout_seconds)),
        partner_read_timeout_seconds=float(get("PARTNER_READ_TIMEOUT_SECONDS", d.partner_read_timeout_seconds)),
        partner_push_secret=get("PARTNER_PUSH_SECRET", d.partner_push_secret),
        activation_lifetime_seconds=int(get("ACTIVATION_LIFETIME_SECONDS", d.activation_lifetime_seconds)),
        cancel_grace_seconds=int(get("CANCEL_GRACE_SECONDS", d.cancel_grace_seconds)),
        status_refresh_min_seconds=int(get("STATUS_REFRESH_MIN_SECONDS", d.status_refresh_min_seconds)),
        poll_sweep_seconds=float(get("POLL_SWEEP_SECONDS", d.poll_sweep_seconds)),
        poll_every_seconds=_positive(float(get("POLL_EVERY_SECONDS", d.poll_every_seconds)), "POLL_EVERY_SECONDS"),
        pending_resolve_after_seconds=int(get("PENDING_RESOLVE_AFTER_SECONDS", d.pending_resolve_after_seconds)),
        refunds_enabled=_bool(get("REFUNDS_ENABLED", "true")),
        markup_percent=Decimal(get("MARKUP_PERCENT", str(d.markup_percent))),
        mail_outbox_dir=get("MAIL_OUTBOX_DIR", d.mail_outbox_dir if local else "") or None,
        mail_from=get("MAIL_FROM", d.mail_from),
        session_ttl_seconds=int(get("SESSION_TTL_SECONDS", d.session_ttl_seconds)),
        verify_token_ttl_seconds=int(get("VERIFY_TOKEN_TTL_SECONDS", d.verify_token_ttl_seconds)),
        reset_token_ttl_seconds=int(get("RESET_TOKEN_TTL_SECONDS", d.reset_token_ttl_seconds)),
        activity_retention_days=int(get("ACTIVITY_RETENTION_DAYS", d.activity_retention_days)),
        agreement_version=get("AGREEMENT_VERSION", d.agreement_version),
        login_ip_free_failures=int(get("LOGIN_IP_FREE_FAILURES", d.login_ip_free_failures)),
        rate_limit_per_second=int(get("RATE_LIMIT_PER_SECOND", d.rate_limit_per_second)),
        rate_limit_burst=int(get("RATE_LIMIT_BURST", d.rate_limit_burst)),
    )


def secrets_from_parameter_store(prefix: str, region: str, client: Any = None) -> dict[str, str]:
    """Deployed stages keep secrets (Stripe keys, partner keys) in SSM under `prefix`: one call, decrypted.

    Each parameter's last path segment is the setting's environment name (`/sms-rooms/prod/STRIPE_SECRET_KEY`).
    """
    if client is None:
        import boto3

        client = boto3.client("ssm", region_name=region)
    found: dict[str, str] = {}
    for page in client.get_paginator("get_parameters_by_path").paginate(Path=prefix, WithDecryption=True):
        for parameter in page["Parameters"]:
            found[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    return found


@functools.cache
def get_environment_settings() -> Settings:
    """Settings from the environment alone, without the SSM secrets: enough to bind tables at import time.

    Importing app.py must not call AWS (chalice package imports it offline, and a cold start should not
    pay for secrets a route may never need); the secrets come with `get_settings()` on first use.
    """
    return settings_from_env(os.environ)


@functools.cache
def get_settings() -> Settings:
    """The process's settings: the environment, with the stage's secrets from SSM laid over it when deployed."""
    env = dict(os.environ)
    prefix = env.get("SECRETS_PARAMETER_PREFIX")
    if prefix:
        env.update(secrets_from_parameter_store(prefix, env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION",
                                                                                    "us-east-1"))))
    return settings_from_env(env)
