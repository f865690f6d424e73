"""The configured partners as adapters, built once per settings (each keeps its HTTP session and circuit breaker)."""
from __future__ import annotations

from chalicelib.config import PartnerSettings, Settings, get_settings, rebuilt_with_settings
from chalicelib.providers.base import Partner
from chalicelib.providers.circuit import CircuitBreaker

_PROTOCOLS = ("sms-activate", "5sim", "smshub_agent")


def build_partner(partner: PartnerSettings, settings: Settings) -> Partner:
    # The adapters bring `requests` (~90 ms): imported when the first partner is built, not at cold start.
    from chalicelib.providers.fivesim import FiveSimPartner
    from chalicelib.providers.sms_activate import SmsActivatePartner
    from chalicelib.providers.smshub_agent import SmsHubAgentPartner
    from chalicelib.providers.transport import HttpPolicy

    policy = HttpPolicy(connect_timeout_seconds=settings.partner_connect_timeout_seconds,
                        read_timeout_seconds=settings.partner_read_timeout_seconds)
    breaker = CircuitBreaker(name=partner.name)
    if partner.protocol == "sms-activate":
        return SmsActivatePartner(partner.name, partner.base_url, partner.api_key, partner.currency,
                                  breaker=breaker, policy=policy)
    if partner.protocol == "5sim":
        return FiveSimPartner(partner.name, partner.base_url, partner.api_key, partner.currency,
                              breaker=breaker, policy=policy)
    if partner.protocol == "smshub_agent":
        return SmsHubAgentPartner(partner.name, partner.base_url, partner.api_key, partner.currency,
                                  dict(partner.prices), breaker=breaker, policy=policy)
    raise ValueError(f"partner {partner.name!r}: protocol {partner.protocol!r} is not one of {_PROTOCOLS}")


def build_partners(settings: Settings) -> tuple[Partner, ...]:
    """Adapters in order of preference: higher `priority` first (it breaks ties between equal prices)."""
    ordered = sorted(settings.partners, key=lambda p: -p.priority)
    return tuple(build_partner(p, settings) for p in ordered)


@rebuilt_with_settings
def partners() -> tuple[Partner, ...]:
    return build_partners(get_settings())
