"""Partner protocols and their adapters: one line each in ADAPTERS; the composition root builds them from the settings.

To add a protocol: write its adapter module (a `Partner` with a module-level `from_settings(partner, link)`), add
its wire name to `config.PartnerProtocol`, and its line here. PARTNERS_JSON then accepts it; nothing else changes.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, cast

from chalicelib.config import PartnerProtocol, PartnerSettings, Settings
from chalicelib.domain.clock import Clock
from chalicelib.providers.base import Partner
from chalicelib.providers.circuit import CircuitBreaker

if TYPE_CHECKING:
    from chalicelib.providers.transport import PartnerLink

# The adapter module of each protocol, imported when the first partner of it is built (by the first call that needs
# partners), never by importing the API.
ADAPTERS: Mapping[PartnerProtocol, str] = {
    PartnerProtocol.SMS_ACTIVATE: "chalicelib.providers.sms_activate",
    PartnerProtocol.FIVESIM: "chalicelib.providers.fivesim",
    PartnerProtocol.SMSHUB_AGENT: "chalicelib.providers.smshub_agent",
}


class AdapterModule(Protocol):
    """What every adapter module offers the registry."""

    def from_settings(self, partner: PartnerSettings, link: PartnerLink) -> Partner: ...


def build_partner(partner: PartnerSettings, settings: Settings, clock: Clock) -> Partner:
    """One configured partner's adapter with its own circuit breaker (settings refuse an unknown protocol)."""
    from chalicelib.providers.transport import HttpPolicy, PartnerLink

    link = PartnerLink(policy=HttpPolicy(connect_timeout_seconds=settings.partner_connect_timeout_seconds,
                                         read_timeout_seconds=settings.partner_read_timeout_seconds),
                       breaker=CircuitBreaker(name=partner.name, clock=clock), clock=clock)
    return adapter_module(partner.protocol).from_settings(partner, link)


def adapter_module(protocol: PartnerProtocol) -> AdapterModule:
    return cast(AdapterModule, importlib.import_module(ADAPTERS[protocol]))


def build_partners(settings: Settings, clock: Clock) -> tuple[Partner, ...]:
    """Adapters in order of preference: higher `priority` first (it breaks ties between equal prices)."""
    ordered = sorted(settings.partners, key=lambda p: -p.priority)
    return tuple(build_partner(p, settings, clock) for p in ordered)
