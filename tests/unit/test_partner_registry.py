"""Partner protocols: each one maps to one adapter module, and the settings refuse a protocol no adapter speaks."""
from __future__ import annotations

import json

import pytest

from chalicelib.config import PartnerProtocol, SettingError, settings_from_env
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.registry import ADAPTERS, build_partners

_KEY = "e5" * 12


def _settings(*partners: dict[str, object]):  # type: ignore[no-untyped-def]
    return settings_from_env({"STAGE": "local", "PARTNERS_JSON": json.dumps(list(partners))})


def _partner(name: str, protocol: object, **extra: object) -> dict[str, object]:
    return {"name": name, "protocol": protocol, "base_url": "http://partner.example/h", "api_key": _KEY,
            "currency": "RUB", **extra}


def test_build_partners__every_protocol_gets_its_own_adapter_in_priority_order() -> None:
    # Given one partner of every protocol, the last one preferred
    partners = [_partner(f"p{i}", protocol.value, priority=i) for i, protocol in enumerate(PartnerProtocol)]
    # When the partners are built
    built = build_partners(_settings(*partners), SystemClock())
    # Then each protocol has an adapter module, and each partner is an adapter of its own protocol's module
    assert set(ADAPTERS) == set(PartnerProtocol)
    assert [p.name for p in built] == [f"p{i}" for i in reversed(range(len(PartnerProtocol)))]
    assert [type(p).__module__ for p in built] == [ADAPTERS[p] for p in reversed(PartnerProtocol)]


def test_build_partners__a_partner_without_a_protocol_speaks_sms_activate() -> None:
    partner = _partner("plain", "sms-activate")
    del partner["protocol"]
    (built,) = build_partners(_settings(partner), SystemClock())
    assert type(built).__module__ == ADAPTERS[PartnerProtocol.SMS_ACTIVATE]


def test_settings__an_unknown_protocol_is_refused_naming_the_known_ones() -> None:
    # Given a partner whose protocol is misspelt
    # When the settings are read / Then they are refused, naming the partner and the protocols there are
    with pytest.raises(SettingError) as refused:
        _settings(_partner("upstream", "fivesim"))
    assert str(refused.value) == ("PARTNERS_JSON gives partner 'upstream' a protocol that is not one of "
                                  "'sms-activate', '5sim', 'smshub_agent'")


@pytest.mark.parametrize("protocol", [None, 5, ["5sim"], {"name": "5sim"}, "sk_live_" + "z9" * 20, "5sim\ud800",
                                      "٥sim", "5SIM", " 5sim"])
def test_settings__a_protocol_that_is_not_one_is_refused_without_repeating_it(protocol: object) -> None:
    # Given a partner whose protocol is not a protocol's exact name (a key pasted there, other digits, spaces)
    with pytest.raises(SettingError) as refused:
        _settings(_partner("upstream", protocol))
    # Then the settings are refused, and the value (the setting is a secret) is not in the message
    assert str(refused.value) == ("PARTNERS_JSON gives partner 'upstream' a protocol that is not one of "
                                  "'sms-activate', '5sim', 'smshub_agent'")

