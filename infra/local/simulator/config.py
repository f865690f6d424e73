"""The simulator's knobs and the validation of a `/_sim/config` change (all of it or nothing is applied)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chalicelib.config import LOCAL_SIM_PUSH_SECRET
from infra.local.simulator.catalog import COUNTRIES, CURRENCY_NUMERIC, SERVICES

Offer = tuple[str, int]  # (service, country)


@dataclass(frozen=True)
class SimConfig:
    """Faults are drawn per handler call; an injected fault never changes state, so no half-made orders.

    - http_error_rate: chance a call answers HTTP 500.
    - garbage_rate: chance a call answers 200 with an HTML page instead of a protocol reply.
    - fail_rate: chance getNumber/getNumberV2 answers NO_NUMBERS although there is stock.
    - latency_ms: sleep before every handler answer (the `/_sim/` routes answer at once).
    - no_sms_rate: chance an issued number never receives its SMS (a partner failing a service: our success
      rates and routing see it).
    - reuse_rate: chance a purchase hands out a number this partner issued before in the country (as partners
      recycle numbers), so numbers our users reported bad come back.
    - honour_phone_exception: False for a partner that ignores getNumber's phoneException.
    - reactivation_window_seconds: how long after an activation began getExtraActivation may reuse its number.
    - disabled_actions: handler actions answered BAD_ACTION, as a clone that lacks them answers.
    """

    api_key: str = "sim-key"
    currency: str = "USD"
    sms_delay_seconds: float = 3.0
    lifetime_seconds: float = 1200.0
    early_cancel_seconds: float = 0.0  # EARLY_CANCEL_DENIED inside this window after purchase
    fail_rate: float = 0.0
    http_error_rate: float = 0.0
    garbage_rate: float = 0.0
    latency_ms: float = 0.0
    no_sms_rate: float = 0.0
    reuse_rate: float = 0.0
    honour_phone_exception: bool = True
    push_url: str | None = None
    push_secret: str = LOCAL_SIM_PUSH_SECRET  # the local default partner "sim"'s push_secret
    balance_minor: int = 1_000_000
    reactivation_window_seconds: float = 4 * 3600.0
    disabled_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConfigChange:
    settings: dict[str, object] = field(default_factory=dict)  # SimConfig field → new value
    stock_all: int | None = None
    stock: dict[Offer, int] = field(default_factory=dict)
    prices: dict[Offer, int] = field(default_factory=dict)


def _non_negative(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number ≥ 0")
    return float(value)


def _probability(value: object) -> float:
    number = _non_negative(value)
    if number > 1:
        raise ValueError("must be between 0 and 1")
    return number


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be an integer ≥ 0")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def nonempty_text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def optional_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    url = nonempty_text(value)
    if not url.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return url


def _action_names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise ValueError("must be a list of action names")
    return tuple(value)


def _currency(value: object) -> str:
    code = nonempty_text(value).upper()
    if code not in CURRENCY_NUMERIC:
        raise ValueError(f"must be one of {sorted(CURRENCY_NUMERIC)}")
    return code


_SETTINGS: dict[str, Callable[[object], object]] = {
    "api_key": nonempty_text, "currency": _currency, "sms_delay_seconds": _non_negative,
    "lifetime_seconds": _non_negative,
    "early_cancel_seconds": _non_negative, "fail_rate": _probability, "http_error_rate": _probability,
    "garbage_rate": _probability, "latency_ms": _non_negative, "push_url": optional_url, "push_secret": nonempty_text,
    "balance_minor": _count, "no_sms_rate": _probability, "reuse_rate": _probability,
    "honour_phone_exception": _flag,
    "reactivation_window_seconds": _non_negative, "disabled_actions": _action_names,
}


def parse_offer(key: str) -> Offer:
    """`"tg:0"` → ("tg", 0), for offers the simulator sells."""
    service, _, country = key.partition(":")
    if service not in SERVICES or not country.lstrip("-").isdigit() or int(country) not in COUNTRIES:
        raise ValueError(f"{key!r} is not a known service:country")
    return service, int(country)


def _offer_counts(value: object) -> dict[Offer, int]:
    if not isinstance(value, Mapping):
        raise ValueError("must be an object of \"service:country\" → integer")
    return {parse_offer(str(key)): _count(count) for key, count in value.items()}


def parse_change(body: Mapping[str, object]) -> ConfigChange:
    """Validate a change; a ValueError names the offending key."""
    settings: dict[str, object] = {}
    change = ConfigChange(settings=settings)
    for key, value in body.items():
        try:
            if key in _SETTINGS:
                settings[key] = _SETTINGS[key](value)
            elif key == "stock" and isinstance(value, int) and not isinstance(value, bool):
                change = dataclasses.replace(change, stock_all=_count(value))
            elif key == "stock":
                change = dataclasses.replace(change, stock=_offer_counts(value))
            elif key == "prices":
                change = dataclasses.replace(change, prices=_offer_counts(value))
            else:
                raise ValueError("is not a setting")
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from exc
    return change


def apply_settings(config: SimConfig, change: ConfigChange) -> SimConfig:
    return dataclasses.replace(config, **change.settings)  # type: ignore[arg-type]
