"""What the simulated partner sells: countries (with phone plans), services, default prices and SMS texts."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class SimCountry:
    id: int
    eng: str
    rus: str
    chn: str
    phone_code: str
    mobile_prefixes: tuple[str, ...]  # national prefixes of mobile numbers
    national_digits: int              # digits after the country code
    operators: tuple[str, ...]


# Ids are SMS-Activate's, so clients written against it find the countries they expect.
COUNTRIES: dict[int, SimCountry] = {c.id: c for c in (
    SimCountry(0, "Russia", "Россия", "俄罗斯", "7", ("900", "915", "926", "977", "999"), 10,
               ("mts", "megafon", "beeline", "tele2")),
    SimCountry(1, "Ukraine", "Украина", "乌克兰", "380", ("50", "63", "67", "93"), 9,
               ("kyivstar", "vodafone", "lifecell")),
    SimCountry(2, "Kazakhstan", "Казахстан", "哈萨克斯坦", "7", ("701", "705", "747", "771"), 10,
               ("activ", "beeline", "tele2")),
    SimCountry(6, "Indonesia", "Индонезия", "印度尼西亚", "62", ("812", "813", "857", "878"), 11,
               ("telkomsel", "indosat", "xl")),
    SimCountry(12, "USA (virtual)", "США (виртуальные)", "美国(虚拟)", "1", ("302", "478", "659"), 10,
               ("virtual",)),
    SimCountry(16, "United Kingdom", "Великобритания", "英国", "44", ("74", "75", "77", "78"), 10,
               ("ee", "o2", "vodafone", "three")),
    SimCountry(22, "India", "Индия", "印度", "91", ("70", "81", "91", "98"), 10,
               ("airtel", "jio", "vi")),
    SimCountry(187, "USA", "США", "美国", "1", ("201", "305", "415", "646", "702", "917"), 10,
               ("tmobile", "att", "verizon")),
)}

# Service code → the name its SMS carries (and getServicesList lists). The last two are not in SMS Rooms' curated
# list: they are sold under the partner's name, one of which is hostile (markup and a right-to-left override).
SERVICES: dict[str, str] = {
    "tg": "Telegram", "wa": "WhatsApp", "go": "Google", "fb": "Facebook", "ig": "Instagram", "tw": "Twitter",
    "vk": "VK", "ok": "OK", "vi": "Viber", "wb": "WeChat", "mm": "Microsoft", "ds": "Discord", "ot": "Service",
    "zv": "Zava Rides", "xq": '<img src=x onerror="window.pwned=1">Quiz\u202e Club',
}

# Default price of a service in minor units; countries add a little on top (see default_price_minor).
_BASE_PRICE_MINOR: dict[str, int] = {
    "tg": 45, "wa": 55, "go": 25, "fb": 15, "ig": 12, "tw": 20, "vk": 18, "ok": 10, "vi": 14, "wb": 50,
    "mm": 16, "ds": 22, "ot": 10, "zv": 30, "xq": 12,
}

_SMS_TEMPLATES: dict[str, str] = {
    "go": "G-{code} is your Google verification code.",
    "wa": "Your WhatsApp code: {code}. Don't share this code with others.",
}
_DEFAULT_TEMPLATE = "Your {name} code is {code}. Do not give this code to anyone."

# ISO 4217 numeric codes, as getNumberV2 writes the currency.
CURRENCY_NUMERIC: dict[str, int] = {"USD": 840, "EUR": 978, "RUB": 643, "GBP": 826, "INR": 356}


def default_price_minor(service: str, country: int) -> int:
    """Prices stay within 0.10-0.60 of the currency, a little dearer in some countries."""
    return min(60, _BASE_PRICE_MINOR[service] + (country % 7))


def new_code(service: str, rng: random.Random) -> str:
    """Telegram sends 5-digit codes; the others 6."""
    digits = 5 if service == "tg" else 6
    return str(rng.randrange(10 ** (digits - 1), 10 ** digits))


def sms_text(service: str, code: str) -> str:
    template = _SMS_TEMPLATES.get(service, _DEFAULT_TEMPLATE)
    return template.format(name=SERVICES[service], code=code)


def new_phone(country: SimCountry, rng: random.Random) -> str:
    """A plausible mobile number: country code, a real mobile prefix, random subscriber digits."""
    prefix = rng.choice(country.mobile_prefixes)
    rest = country.national_digits - len(prefix)
    return country.phone_code + prefix + "".join(str(rng.randrange(10)) for _ in range(rest))
