"""Reference services and countries: the SMS-Activate codes and ids that existing clients send."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib.domain import catalog_data
from chalicelib.domain.catalog_data import CountryInfo, ServiceInfo, countries, country_by_id, service_by_code, services

REQUIRED_SERVICES = {
    "tg": "Telegram", "wa": "WhatsApp", "go": "Google", "fb": "Facebook", "ig": "Instagram", "tw": "Twitter",
    "vk": "VK", "ok": "Odnoklassniki", "vi": "Viber", "wb": "WeChat", "mm": "Microsoft", "ds": "Discord",
    "ot": "Any other", "am": "Amazon", "tn": "LinkedIn", "lf": "TikTok", "ub": "Uber", "oi": "Tinder",
    "nf": "Netflix", "ts": "PayPal", "mt": "Steam", "dr": "OpenAI",
}

REQUIRED_COUNTRIES = {
    0: ("Russia", "RU", "7"), 1: ("Ukraine", "UA", "380"), 2: ("Kazakhstan", "KZ", "7"), 3: ("China", "CN", "86"),
    4: ("Philippines", "PH", "63"), 5: ("Myanmar", "MM", "95"), 6: ("Indonesia", "ID", "62"),
    7: ("Malaysia", "MY", "60"), 8: ("Kenya", "KE", "254"), 10: ("Vietnam", "VN", "84"),
    11: ("Kyrgyzstan", "KG", "996"), 12: ("USA (virtual)", "US", "1"), 13: ("Israel", "IL", "972"),
    14: ("Hong Kong", "HK", "852"), 15: ("Poland", "PL", "48"), 16: ("United Kingdom", "GB", "44"),
    22: ("India", "IN", "91"), 32: ("Romania", "RO", "40"), 33: ("Colombia", "CO", "57"), 36: ("Canada", "CA", "1"),
    43: ("Germany", "DE", "49"), 73: ("Brazil", "BR", "55"), 78: ("France", "FR", "33"), 86: ("Italy", "IT", "39"),
    187: ("USA", "US", "1"),
}


@pytest.mark.parametrize(("code", "name"), REQUIRED_SERVICES.items())
def test_service_by_code__sms_activate_codes_resolve(code: str, name: str) -> None:
    # Given a service code an SMS-Activate client sends
    # When it is looked up
    service = service_by_code(code)
    # Then it names the platform the client means
    assert service is not None
    assert name in service.name


def test_service_by_code__unknown_code__none() -> None:
    # Given a code no client uses
    # When it is looked up
    # Then there is no service (the adapter answers BAD_SERVICE)
    assert service_by_code("zz-not-a-service") is None


def test_services__codes_unique_and_names_present() -> None:
    # Given the published service list
    listed = services()
    # When it is inspected
    codes = [s.code for s in listed]
    # Then every code is a unique short lowercase code with a name, and "any other" is offered
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]{2,3}", s.code) and s.name for s in listed)
    assert ServiceInfo("ot", "Any other") in listed


@pytest.mark.parametrize(("country_id", "expected"), REQUIRED_COUNTRIES.items())
def test_country_by_id__sms_activate_ids_resolve(country_id: int, expected: tuple[str, str, str]) -> None:
    # Given a country id an SMS-Activate client sends
    # When it is looked up
    country = country_by_id(country_id)
    # Then it is the country SMS-Activate means, with its ISO code and calling code
    assert country is not None
    assert (country.name_en, country.iso2, country.phone_code) == expected


def test_country_by_id__unknown_id__none() -> None:
    # Given an id SMS-Activate never published
    # When it is looked up
    # Then there is no country (the adapter answers WRONG_COUNTRY_ID)
    assert country_by_id(100_000) is None


def test_countries__every_row_is_complete_for_get_countries() -> None:
    # Given the published country list
    listed = countries()
    # When it is inspected
    ids = [c.id for c in listed]
    # Then ids are unique and every row has the three names getCountries serves, an ISO code and a calling code
    assert len(ids) == len(set(ids))
    assert len(listed) > 150
    for c in listed:
        assert c.name_en and c.name_ru and c.name_zh, c
        assert re.fullmatch(r"[A-Z]{2}", c.iso2), c
        assert re.fullmatch(r"[1-9][0-9]{0,3}", c.phone_code), c


def test_countries__names_in_russian_and_chinese() -> None:
    # Given the countries SMS-Activate clients ask for most
    russia, china = country_by_id(0), country_by_id(3)
    # When their names are read for the rus/chn fields
    # Then they are in the right script
    assert russia == CountryInfo(0, "Russia", "Россия", "俄罗斯", "RU", "7")
    assert china is not None and (china.name_ru, china.name_zh) == ("Китай", "中国")


def test_services__returns_a_copy_callers_cannot_corrupt() -> None:
    # Given a caller that modifies the list it got
    services().clear()
    countries().clear()
    # When another caller asks
    # Then the lists are intact
    assert service_by_code("tg") in services()
    assert country_by_id(187) in countries()


def test_catalog_data__duplicate_code_in_a_data_edit__fails_at_load(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a services.json edited to list the same code twice
    (tmp_path / "services.json").write_text(json.dumps([{"code": "tg", "name": "Telegram"},
                                                        {"code": "tg", "name": "Telegram again"}]))
    monkeypatch.setattr(catalog_data, "_DATA_DIR", tmp_path)
    catalog_data._services_by_code.cache_clear()
    try:
        # When the list is loaded
        # Then loading fails instead of one row silently shadowing the other
        with pytest.raises(ValueError, match="duplicate service code 'tg'"):
            services()
    finally:
        catalog_data._services_by_code.cache_clear()
