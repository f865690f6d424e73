"""Settings: one typed object from the environment; outside `local` every secret is required, never a repo value."""
from __future__ import annotations

import enum
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

LOCAL_STAGE = "local"

# Settings that hold secrets: SSM SecureString parameters under the stage's SECRETS_PARAMETER_PREFIX, one per
# environment variable name. PARTNERS_JSON is one because it carries each partner's API key and push secret.
SECRET_SETTINGS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "PARTNERS_JSON")
# Required outside `local` too, though public: the page's Stripe key (a plain SSM parameter the stack makes), the
# URL every email link and the Stripe webhook point at, and the sender of every email (the stack sets both).
REQUIRED_SETTINGS = (*SECRET_SETTINGS, "STRIPE_PUBLISHABLE_KEY", "PUBLIC_BASE_URL", "MAIL_FROM", "SUPPORT_EMAIL")

# The local stage's values. They are published in this repository, so no other stage may ever use one.
LOCAL_VALUES = {
    "STRIPE_SECRET_KEY": "sk_test_local",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_local",
    "STRIPE_WEBHOOK_SECRET": "whsec_local",
    "MAIL_FROM": "SMS Rooms <no-reply@sms-rooms.local>",
    "SUPPORT_EMAIL": "SMS Rooms support <support@sms-rooms.local>",
}
LOCAL_PARTNER_KEY = "sim-key"  # the simulator's published key
LOCAL_SIM_PUSH_SECRET = "sim-push-secret"  # the simulator's published push secret (partner "sim", local only)
PUBLISHED_VALUES = frozenset(v.casefold() for v in (*LOCAL_VALUES.values(), LOCAL_PARTNER_KEY, LOCAL_SIM_PUSH_SECRET))
_PUSH_SECRET_SHAPE = re.compile(r"[!-~]{16,}")

# What a real value looks like. Every placeholder in the repository is shorter than these minimums.
_SHAPES = {
    "STRIPE_SECRET_KEY": (re.compile(r"[sr]k_(live|test)_[0-9A-Za-z]{16,}"), "a Stripe secret key (sk_live_…)"),
    "STRIPE_PUBLISHABLE_KEY": (re.compile(r"pk_(live|test)_[0-9A-Za-z]{16,}"), "a Stripe publishable key (pk_live_…)"),
    "STRIPE_WEBHOOK_SECRET": (re.compile(r"whsec_[0-9A-Za-z+/=]{16,}"), "a Stripe signing secret (whsec_…)"),
    "PUBLIC_BASE_URL": (re.compile(r"https://[^\s/?#]+(/[^\s?#]*[^\s/?#])?"), "an https URL without a trailing /"),
    "MAIL_FROM": (re.compile(r"[^\r\n]*@[^\r\n]+"), "a sender address"),
    "SUPPORT_EMAIL": (re.compile(r"[^\r\n]*@[^\r\n]+"), "an email address (the support mailbox)"),
}
DEFAULT_SECRETS_TTL_SECONDS = 120.0
# A misconfigured or unreadable store is read again this soon, so a fix shows without a cold start.
_RETRY_SECONDS = 15.0


class PartnerProtocol(enum.StrEnum):
    """The wire protocols we rent numbers over; PARTNERS_JSON's `protocol` is one of these values.

    Each has one adapter module, registered in `providers/registry.ADAPTERS` (a test checks none is missing).
    """

    SMS_ACTIVATE = "sms-activate"
    FIVESIM = "5sim"
    SMSHUB_AGENT = "smshub_agent"


@dataclass(frozen=True)
class PartnerSettings:
    name: str
    protocol: PartnerProtocol
    base_url: str
    api_key: str
    priority: int = 0
    currency: str = "USD"
    rate_to_base: Decimal = Decimal(1)  # multiply partner minor units by this to get ours
    # smshub_agent only: what we pay the agent per number, in its currency's minor units, keyed
    # "<service>:<country>", "<service>" or "*" (most specific wins). A pair tuple keeps Settings hashable.
    prices: tuple[tuple[str, int], ...] = ()
    # The secret this partner signs its SMS pushes with (domain/push_signature.py), and the one it replaces
    # while a rotation is under way; a partner without one has its pushes refused.
    push_secret: str | None = field(default=None, repr=False)
    push_secret_previous: str | None = field(default=None, repr=False)

    @property
    def push_secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.push_secret, self.push_secret_previous) if s)


@dataclass(frozen=True)
class Settings:
    stage: str = LOCAL_STAGE
    app_name: str = "sms-rooms"
    region: str = "us-east-1"
    table_prefix: str = "smsrooms-local-"
    dynamodb_endpoint: str | None = "http://127.0.0.1:8001"
    public_base_url: str = "http://127.0.0.1:8000"
    currency: str = "USD"

    # Secrets default to nothing: the local stage's values come from LOCAL_VALUES, and only there.
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str | None = "http://127.0.0.1:8420"
    stripe_js_url: str = "http://127.0.0.1:8420/js.stripe.com/v3/"
    topup_min_cents: int = 100
    topup_max_cents: int = 100_000
    refund_fee_cents: int = 0
    # A refunded card payment's processing fee is kept (6.3): what Stripe's balance transaction says, else this
    # estimate (Stripe's standard card pricing: 2.9 % + 30 cents), in basis points and cents.
    card_fee_basis_points: int = 290
    card_fee_fixed_cents: int = 30

    partners: tuple[PartnerSettings, ...] = field(default_factory=tuple)
    partner_connect_timeout_seconds: float = 2.0
    partner_read_timeout_seconds: float = 5.0
    partner_push_tolerance_seconds: int = 300  # how old (or early) a signed partner push may be

    activation_lifetime_seconds: int = 1200
    cancel_grace_seconds: int = 120  # the early-cancel window of the refund policy (domain/refund_policy.py)
    status_refresh_min_seconds: int = 3
    # The poll job's sweep: one cycle locally (the local scheduler runs it every 2 s); deployed stages
    # set POLL_SWEEP_SECONDS so one invocation a minute polls every POLL_EVERY_SECONDS while numbers wait.
    poll_sweep_seconds: float = 0.0
    poll_every_seconds: float = 5.0
    pending_resolve_after_seconds: int = 60
    # A bulk order: at most this many numbers in one call (one transaction holds 3 items a number, DynamoDB 100), its
    # partners asked in parallel for at most this long (API Gateway answers 504 after 29 s); the rest is refunded.
    bulk_max_count: int = 10
    bulk_deadline_seconds: float = 20.0
    refunds_enabled: bool = True  # the operator's switch of the refund policy (domain/refund_policy.py)
    markup_percent: Decimal = Decimal(30)
    # A rental canceled this soon after it began, before any SMS, is refunded in full (the industry's 20 minutes);
    # 0 makes every rental final once its number is issued. REFUNDS_ENABLED=false closes the window too.
    rental_cancel_window_seconds: int = 1200
    # Routing by success rate (domain/delivery_rates.py): the recent window it reads, the rate under which a
    # partner is no longer offered for a service and country, and the outcomes a rate needs before it counts.
    routing_window_seconds: int = 3600
    routing_rate_floor: Decimal = Decimal("0.2")
    routing_min_samples: int = 10
    marked_number_days: int = 30  # how long a number reported bad for a service stays unsold for it

    mail_outbox_dir: str | None = ".local/outbox"
    mail_from: str = ""
    # Reply-To of every email we send: answering any of them reaches the support mailbox.
    support_email: str = ""
    support_contact_per_ip_per_hour: int = 5  # contact-form messages one IP may send (a NAT: raise it)
    session_ttl_seconds: int = 7 * 24 * 3600
    verify_token_ttl_seconds: int = 24 * 3600
    reset_token_ttl_seconds: int = 3600
    activity_retention_days: int = 180
    agreement_version: str = "1"
    login_ip_free_failures: int = 30  # failed sign-ins one IP may make before it must wait (a NAT: raise it)
    rate_limit_per_second: int = 20
    rate_limit_burst: int = 100
    # Partition keys every order writes (the active-activations index, the outboxes' due index) carry one of this
    # many suffixes, so no partition takes more than 1/shards of the writes; the jobs query each (raise it, never
    # lower it: an item on a shard past the new count would be found by no job).
    write_shards: int = 32
    secrets_ttl_seconds: float = DEFAULT_SECRETS_TTL_SECONDS  # how long a container trusts the secrets it read
    # Users' webhook URLs may point at 127.0.0.1/::1 only on the local stage and only when this is set
    # (the test stack sets it; `make run` does not): everywhere else they must be public https URLs.
    webhook_allow_loopback: bool = False
    # Where a signed-in page opens its WebSocket for live updates (wss://<websocket api>/<stage> deployed, set by
    # the template; ws://127.0.0.1:<LIVE_PORT>/local locally); empty: no live updates, the page only polls.
    live_url: str = ""

    @property
    def is_local(self) -> bool:
        return self.dynamodb_endpoint is not None


@dataclass(frozen=True)
class Problem:
    """One setting that stops the function, and why; never the value."""

    setting: str
    reason: str

    def __str__(self) -> str:
        return f"{self.setting} {self.reason}"


class Misconfigured(Exception):
    """The function refuses to work: a required setting is missing, published in the repository, or malformed."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        super().__init__("SMS Rooms is misconfigured, so it refuses to work until fixed: "
                         + "; ".join(str(p) for p in problems))


class SettingError(ValueError):
    """One malformed setting, named; the message never carries its value (it may be a secret)."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting, self.reason = setting, reason
        super().__init__(f"{setting} {reason}")


def _partners_from(raw: str | None) -> tuple[PartnerSettings, ...]:
    if not raw:
        return ()
    try:
        items = json.loads(raw)
        partners = tuple(
            PartnerSettings(
                name=str(p["name"]), protocol=_protocol(p), base_url=str(p["base_url"]),
                api_key=str(p["api_key"]), priority=int(p.get("priority", 0)), currency=str(p.get("currency", "USD")),
                rate_to_base=Decimal(str(p.get("rate_to_base", "1"))),
                prices=_prices_from(p.get("prices") or {}),
                push_secret=_optional_text(p.get("push_secret")),
                push_secret_previous=_optional_text(p.get("push_secret_previous")),
            )
            for p in items
        )
        _one_push_secret_per_partner(partners)
        return partners
    except SettingError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation, RecursionError) as exc:
        # The text may hold partners' keys: name the setting and the kind of fault, never the value.
        raise SettingError("PARTNERS_JSON", "is not a JSON list of partners with name, base_url and api_key "
                           f"({type(exc).__name__})") from None


def _protocol(partner: Mapping[str, object]) -> PartnerProtocol:
    """The partner's protocol (sms-activate when left out); an unknown one is refused, naming the known ones."""
    value = partner.get("protocol", PartnerProtocol.SMS_ACTIVATE.value)
    for protocol in PartnerProtocol:
        if isinstance(value, str) and value == protocol.value:
            return protocol
    known = ", ".join(repr(p.value) for p in PartnerProtocol)
    # The value itself is not repeated: the setting is a secret, and a misplaced key must not reach the logs.
    raise SettingError("PARTNERS_JSON", f"gives partner {str(partner.get('name'))[:64]!r} a protocol that is not "
                                        f"one of {known}")


def _optional_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError("push_secret")
    return value.strip() or None


def _one_push_secret_per_partner(partners: tuple[PartnerSettings, ...]) -> None:
    """A shared secret would let one partner's signed push pass as another's."""
    secrets = [s for p in partners for s in p.push_secrets]
    if len(secrets) != len(set(secrets)):
        raise SettingError("PARTNERS_JSON", "gives two partners (or one partner twice) the same push_secret")


def _prices_from(raw: Mapping[str, object]) -> tuple[tuple[str, int], ...]:
    """A partner's price table: whole minor units only, so money never passes through a float."""
    prices = tuple((str(key), value) for key, value in raw.items()
                   if isinstance(value, int) and not isinstance(value, bool) and value > 0)
    if len(prices) != len(raw):
        raise SettingError("PARTNERS_JSON", "gives prices that are not positive whole minor units")
    return prices


_N = TypeVar("_N", int, float, Decimal)
_V = TypeVar("_V")


class _Env:
    """Typed reads of an environment mapping: an empty variable keeps the default; a malformed one names itself."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str) -> str:
        return self.env.get(name) or default

    def number(self, name: str, default: _N, kind: Callable[[str], _N]) -> _N:
        raw = self.env.get(name)
        if not raw:
            return default
        try:
            if not raw.isascii():  # int() takes '١٠٠' and '１００': digits of other scripts are a typo or a trap
                raise ValueError(name)
            return kind(raw.strip())
        except (ValueError, InvalidOperation):
            raise SettingError(name, f"must be a {'whole ' if kind is int else ''}number") from None

    def count(self, name: str, default: int, *, maximum: int) -> int:
        value = self.number(name, default, int)
        if not 1 <= value <= maximum:
            raise SettingError(name, f"must be a whole number from 1 to {maximum}")
        return value

    def within(self, name: str, default: int, lowest: int, highest: int) -> int:
        value = self.number(name, default, int)
        if not lowest <= value <= highest:
            raise SettingError(name, f"must be a whole number from {lowest} to {highest}")
        return value

    def positive(self, name: str, default: float, at_most: float = float("inf")) -> float:
        value = self.number(name, default, float)
        if not 0 < value <= at_most:
            raise SettingError(name, "must be a positive number of seconds"
                               + (f", at most {at_most:g}" if at_most < float("inf") else ""))
        return value


def _local_only(stage: str, name: str, value: _V) -> _V:
    if value and stage != LOCAL_STAGE:
        raise SettingError(name, "is for the local stage only: unset it")
    return value


def _live_url(stage: str, url: str) -> str:
    """Empty (no live updates: pages poll), or where pages open their socket: wss:// (ws:// only locally)."""
    parts = urlsplit(url)
    schemes = ("wss", "ws") if stage == LOCAL_STAGE else ("wss",)
    if url and (parts.scheme not in schemes or not parts.netloc or parts.query or parts.fragment or not url.isascii()):
        raise SettingError("LIVE_URL", f"must be a {' or '.join(s + '://' for s in schemes)} URL without a query")
    return url


def _fraction(name: str, value: Decimal) -> Decimal:
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise SettingError(name, "must be a fraction from 0 to 1")
    return value


def _bool(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping; empty variables keep the defaults.

    Only the local stage gets the local endpoints and LOCAL_VALUES; any other stage gets nothing for a secret it
    lacks (`configuration_problems` says so before anything runs).
    """
    d = Settings()
    e = _Env(env)
    get = env.get
    stage = stage_of(env)
    local = stage == LOCAL_STAGE
    ddb_port, stripe_port = get("DYNAMODB_PORT", "8001"), get("STRIPE_PORT", "8420")
    app_port, sim_port = get("APP_PORT", "8000"), get("PARTNER_SIM_PORT", "8002")
    placeholder = LOCAL_VALUES if local else {}
    local_outbox = ".local/outbox" if local else ""
    default_partners = json.dumps([{"name": "sim", "protocol": "sms-activate",
                                    "base_url": f"http://127.0.0.1:{sim_port}/stubs/handler_api.php",
                                    "api_key": LOCAL_PARTNER_KEY,
                                    "push_secret": LOCAL_SIM_PUSH_SECRET}]) if local else ""
    ddb_endpoint = get("DYNAMODB_ENDPOINT", f"http://127.0.0.1:{ddb_port}" if local else "")
    stripe_base = get("STRIPE_API_BASE", f"http://127.0.0.1:{stripe_port}" if local else "")
    return Settings(
        stage=stage,
        app_name=e.text("APP_NAME", d.app_name),
        region=get("AWS_REGION") or e.text("AWS_DEFAULT_REGION", d.region),
        table_prefix=e.text("TABLE_PREFIX", f"smsrooms-{stage}-"),
        dynamodb_endpoint=ddb_endpoint or None,
        public_base_url=e.text("PUBLIC_BASE_URL", f"http://127.0.0.1:{app_port}" if local else "").strip(),
        currency=e.text("CURRENCY", d.currency),
        stripe_secret_key=_secret(env, "STRIPE_SECRET_KEY", placeholder),
        stripe_publishable_key=_secret(env, "STRIPE_PUBLISHABLE_KEY", placeholder),
        stripe_webhook_secret=_secret(env, "STRIPE_WEBHOOK_SECRET", placeholder),
        stripe_api_base=stripe_base or None,
        stripe_js_url=get("STRIPE_JS_URL", f"{stripe_base}/js.stripe.com/v3/" if stripe_base
                          else "https://js.stripe.com/v3/"),
        topup_min_cents=e.number("TOPUP_MIN_CENTS", d.topup_min_cents, int),
        topup_max_cents=e.number("TOPUP_MAX_CENTS", d.topup_max_cents, int),
        refund_fee_cents=e.number("REFUND_FEE_CENTS", d.refund_fee_cents, int),
        card_fee_basis_points=e.within("CARD_FEE_BASIS_POINTS", d.card_fee_basis_points, 0, 10_000),
        card_fee_fixed_cents=e.within("CARD_FEE_FIXED_CENTS", d.card_fee_fixed_cents, 0, 10_000),
        partners=_partners_from(get("PARTNERS_JSON") or default_partners),
        partner_connect_timeout_seconds=e.number("PARTNER_CONNECT_TIMEOUT_SECONDS",
                                                 d.partner_connect_timeout_seconds, float),
        partner_read_timeout_seconds=e.number("PARTNER_READ_TIMEOUT_SECONDS", d.partner_read_timeout_seconds, float),
        partner_push_tolerance_seconds=e.number("PARTNER_PUSH_TOLERANCE_SECONDS", d.partner_push_tolerance_seconds,
                                                int),
        activation_lifetime_seconds=e.number("ACTIVATION_LIFETIME_SECONDS", d.activation_lifetime_seconds, int),
        cancel_grace_seconds=e.number("CANCEL_GRACE_SECONDS", d.cancel_grace_seconds, int),
        status_refresh_min_seconds=e.number("STATUS_REFRESH_MIN_SECONDS", d.status_refresh_min_seconds, int),
        poll_sweep_seconds=e.number("POLL_SWEEP_SECONDS", d.poll_sweep_seconds, float),
        poll_every_seconds=e.positive("POLL_EVERY_SECONDS", d.poll_every_seconds),
        pending_resolve_after_seconds=e.number("PENDING_RESOLVE_AFTER_SECONDS", d.pending_resolve_after_seconds, int),
        bulk_max_count=e.count("BULK_MAX_COUNT", d.bulk_max_count, maximum=30),
        bulk_deadline_seconds=e.positive("BULK_DEADLINE_SECONDS", d.bulk_deadline_seconds, at_most=25),
        refunds_enabled=_bool(get("REFUNDS_ENABLED") or "true"),
        markup_percent=e.number("MARKUP_PERCENT", d.markup_percent, Decimal),
        rental_cancel_window_seconds=e.number("RENTAL_CANCEL_WINDOW_SECONDS", d.rental_cancel_window_seconds, int),
        # At most the life of a 5-minute bucket (2 h) less one bucket.
        routing_window_seconds=e.count("ROUTING_WINDOW_SECONDS", d.routing_window_seconds, maximum=6900),
        routing_rate_floor=_fraction("ROUTING_RATE_FLOOR",
                                     e.number("ROUTING_RATE_FLOOR", d.routing_rate_floor, Decimal)),
        routing_min_samples=e.count("ROUTING_MIN_SAMPLES", d.routing_min_samples, maximum=100_000),
        marked_number_days=e.count("MARKED_NUMBER_DAYS", d.marked_number_days, maximum=365),
        # Deployed, a file in the function's disk would be mail that never leaves (and the outbox retries for ever).
        mail_outbox_dir=_local_only(stage, "MAIL_OUTBOX_DIR", get("MAIL_OUTBOX_DIR", local_outbox)) or None,
        mail_from=_secret(env, "MAIL_FROM", placeholder),
        support_email=_secret(env, "SUPPORT_EMAIL", placeholder),
        support_contact_per_ip_per_hour=e.number("SUPPORT_CONTACT_PER_IP_PER_HOUR", d.support_contact_per_ip_per_hour,
                                                 int),
        session_ttl_seconds=e.number("SESSION_TTL_SECONDS", d.session_ttl_seconds, int),
        verify_token_ttl_seconds=e.number("VERIFY_TOKEN_TTL_SECONDS", d.verify_token_ttl_seconds, int),
        reset_token_ttl_seconds=e.number("RESET_TOKEN_TTL_SECONDS", d.reset_token_ttl_seconds, int),
        activity_retention_days=e.number("ACTIVITY_RETENTION_DAYS", d.activity_retention_days, int),
        agreement_version=e.text("AGREEMENT_VERSION", d.agreement_version),
        login_ip_free_failures=e.number("LOGIN_IP_FREE_FAILURES", d.login_ip_free_failures, int),
        rate_limit_per_second=e.number("RATE_LIMIT_PER_SECOND", d.rate_limit_per_second, int),
        rate_limit_burst=e.number("RATE_LIMIT_BURST", d.rate_limit_burst, int),
        write_shards=e.count("WRITE_SHARDS", d.write_shards, maximum=1000),
        # At most an hour: a rotated or revoked secret must stop working in every warm container soon.
        secrets_ttl_seconds=e.positive("SECRETS_TTL_SECONDS", d.secrets_ttl_seconds, at_most=3600),
        live_url=_live_url(stage, e.text("LIVE_URL", f"ws://127.0.0.1:{get('LIVE_PORT')}/local"
                                         if local and get("LIVE_PORT") else "")),
        webhook_allow_loopback=_local_only(stage, "WEBHOOK_ALLOW_LOOPBACK", _bool(get("WEBHOOK_ALLOW_LOOPBACK") or "")),
    )


def stage_of(env: Mapping[str, str]) -> str:
    return (env.get("STAGE") or "").strip() or LOCAL_STAGE


def _secret(env: Mapping[str, str], name: str, placeholder: Mapping[str, str]) -> str:
    # Surrounding whitespace (a trailing newline from `--value file://…`) is never part of a key.
    return (env.get(name) or "").strip() or placeholder.get(name, "")


def configuration_problems(env: Mapping[str, str]) -> tuple[Problem, ...]:
    """Why these settings may not run, outside the local stage (empty: they may). Never says a value."""
    if stage_of(env) == LOCAL_STAGE:
        if env.get("AWS_LAMBDA_FUNCTION_NAME"):
            return (Problem("STAGE", "is missing or 'local' inside AWS Lambda (the local stage uses published "
                                     "values)"),)
        return ()
    problems = [p for name in REQUIRED_SETTINGS if (p := setting_problem(name, (env.get(name) or "").strip()))]
    if not problems:
        problems += _stripe_mode_problems(env)
    try:
        settings_from_env(env)
    except SettingError as exc:
        if not any(p.setting == exc.setting for p in problems):
            problems.append(Problem(exc.setting, exc.reason))
    return tuple(problems)


def setting_problem(name: str, value: str) -> Problem | None:
    """Why one required setting's value may not be used outside `local`, or None when it may."""
    if not value:
        return Problem(name, "is missing")
    if value.casefold() in PUBLISHED_VALUES:
        return Problem(name, "is a value published in the repository (a local placeholder)")
    if name == "PARTNERS_JSON":
        return _partners_problem(value)
    pattern, shape = _SHAPES[name]
    if not pattern.fullmatch(value):
        return Problem(name, f"is not {shape}")
    return None


def _partners_problem(raw: str) -> Problem | None:
    try:
        partners = _partners_from(raw)
    except SettingError as exc:
        return Problem(exc.setting, exc.reason)
    if not partners:
        return Problem("PARTNERS_JSON", "lists no partner")
    for partner in partners:
        key = partner.api_key.strip()
        if not key or key.casefold() in PUBLISHED_VALUES:
            return Problem("PARTNERS_JSON", f"gives partner {partner.name!r} a missing or published api_key")
        if not re.fullmatch(r"https?://[^\s/]+\S*", partner.base_url):
            return Problem("PARTNERS_JSON", f"gives partner {partner.name!r} a base_url that is not an http(s) URL")
        if any(s.casefold() in PUBLISHED_VALUES or not _PUSH_SECRET_SHAPE.fullmatch(s) for s in partner.push_secrets):
            return Problem("PARTNERS_JSON", f"gives partner {partner.name!r} a push_secret that is published or not "
                                            "at least 16 printable characters without spaces")
    return None


def _stripe_mode_problems(env: Mapping[str, str]) -> list[Problem]:
    # A live page with a test secret key (or the reverse) fails every payment; say so at once.
    secret_live = (env.get("STRIPE_SECRET_KEY") or "").strip()[3:].startswith("live_")
    public_live = (env.get("STRIPE_PUBLISHABLE_KEY") or "").strip()[3:].startswith("live_")
    if secret_live == public_live:
        return []
    return [Problem("STRIPE_PUBLISHABLE_KEY", "is a " + ("test" if secret_live else "live") + " key but "
                    "STRIPE_SECRET_KEY a " + ("live" if secret_live else "test") + " one")]


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


SecretReader = Callable[[str, str], dict[str, str]]


@dataclass(frozen=True)
class _Reading:
    settings: Settings | None
    problems: tuple[Problem, ...]
    fresh_until: float


class SettingsSource:
    """The process's settings: the environment with the stage's SSM secrets laid over it, re-read on a TTL.

    Nothing is read from AWS until first asked (importing the app stays offline and cheap). A warm container
    re-reads the parameters every `SECRETS_TTL_SECONDS`, so a rotated secret replaces the old one without a cold
    start; settings equal to the last reading come back as the same object, so what was built from them is kept.
    """

    def __init__(self, environ: Mapping[str, str], read_secrets: SecretReader = secrets_from_parameter_store,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.environ = dict(environ)
        self.prefix = self.environ.get("SECRETS_PARAMETER_PREFIX", "").strip()
        self.read_secrets = read_secrets
        self.now = now
        self._reading: _Reading | None = None

    def current(self) -> Settings:
        """The settings to act on, or Misconfigured: nothing outside `local` runs on a missing or published value."""
        reading = self._reading
        if reading is None or (self.prefix and self.now() >= reading.fresh_until):
            reading = self._reading = self._read(reading)
        if reading.settings is None:
            raise Misconfigured(reading.problems)
        return reading.settings

    def _read(self, last: _Reading | None) -> _Reading:
        env = dict(self.environ)
        if self.prefix:
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
            try:
                env.update(self.read_secrets(self.prefix, region))
            except Exception as exc:  # SSM throttled or unreachable: not a reason to drop good secrets at once
                return self._unreadable(last, exc)
        problems = configuration_problems(env)
        if problems:
            _log_refusal(problems)
            return _Reading(None, problems, self.now() + _RETRY_SECONDS)
        settings = settings_from_env(env)
        if last is not None and last.settings == settings:
            settings = last.settings
        return _Reading(settings, (), self.now() + settings.secrets_ttl_seconds)

    def _unreadable(self, last: _Reading | None, exc: Exception) -> _Reading:
        from chalicelib.observability import logger

        logger.warning("secrets could not be re-read", extra={"error": type(exc).__name__,
                                                              "prefix": self.prefix})
        if last is not None and last.settings is not None:
            return _Reading(last.settings, (), self.now() + _RETRY_SECONDS)
        problems = (Problem("SECRETS_PARAMETER_PREFIX", f"could not be read ({type(exc).__name__})"),)
        _log_refusal(problems)
        return _Reading(None, problems, self.now() + _RETRY_SECONDS)


def _log_refusal(problems: tuple[Problem, ...]) -> None:
    from chalicelib.observability import logger

    logger.error(str(Misconfigured(problems)), extra={"misconfigured_settings": [p.setting for p in problems]})


_source: SettingsSource | None = None


def get_settings() -> Settings:
    """The process's settings (see SettingsSource); raises Misconfigured rather than run on a bad one."""
    global _source
    if _source is None:
        _source = SettingsSource(os.environ)
    return _source.current()


def use_settings_source(source: SettingsSource | None) -> SettingsSource | None:
    """Replace the process's source, returning the one it had (tests; None: from os.environ on next use)."""
    global _source
    previous, _source = _source, source
    return previous


# What binding the tables reads: none of it can be malformed, so importing the app never fails on a setting.
_TABLE_BINDING = ("STAGE", "TABLE_PREFIX", "DYNAMODB_ENDPOINT", "DYNAMODB_PORT", "AWS_REGION", "AWS_DEFAULT_REGION")


def get_environment_settings() -> Settings:
    """Settings from the environment's table binding alone, without the SSM secrets: what import time needs.

    Importing app.py must not call AWS (chalice package imports it offline, and a cold start should not
    pay for secrets a route may never need); the rest comes with `get_settings()`, which refuses bad values
    with one clear line instead of a crash at import.
    """
    return settings_from_env({name: os.environ[name] for name in _TABLE_BINDING if name in os.environ})


_T = TypeVar("_T")


def rebuilt_with_settings(build: Callable[[], _T]) -> Callable[[], _T]:
    """Cache what `build` makes from the settings until they change (a rotated secret), instead of for ever."""
    built: list[tuple[Settings, _T]] = []

    def current() -> _T:
        settings = get_settings()
        if not built or built[0][0] is not settings:
            built[:] = [(settings, build())]
        return built[0][1]

    current.__doc__, current.__name__ = build.__doc__, build.__name__
    return current
