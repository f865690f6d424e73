"""One table of how partners name what we sell: our service codes and country ids are SMS-Activate's; 5sim (and
SMSHub agents) use words. Both the 5sim routes we serve and the partner adapters read it, so a country or a
product is spelt the same way in and out. And the checks a partner's own service code and name pass before we
sell under them: they are untrusted input.
"""
from __future__ import annotations

import functools
import re
import unicodedata

from chalicelib.domain.catalog_data import countries

# Our service code → 5sim's product word (5sim's own words where it has the product). A code missing here is
# the product word itself: a service first listed by a 5sim partner keeps its word as its code.
PRODUCTS: dict[str, str] = {
    "tg": "telegram", "wa": "whatsapp", "go": "google", "fb": "facebook", "ig": "instagram", "tw": "twitter",
    "vk": "vkontakte", "ok": "odnoklassniki", "vi": "viber", "wb": "wechat", "mm": "microsoft", "ds": "discord",
    "dr": "openai", "am": "amazon", "wx": "apple", "tn": "linkedin", "lf": "tiktok", "fu": "snapchat",
    "bw": "signal", "kt": "kakaotalk", "me": "line", "qq": "tencentqq", "ub": "uber", "oi": "tinder", "qv": "badoo",
    "mo": "bumble", "yw": "grindr", "nf": "netflix", "ts": "paypal", "mt": "steam", "bz": "blizzard", "hb": "twitch",
    "mb": "yahoo", "dp": "protonmail", "ya": "yandex", "ma": "mailru", "av": "avito", "uu": "wildberries",
    "sg": "ozon", "hw": "alipay", "hx": "aliexpress", "ka": "shopee", "dl": "lazada", "jg": "grabtaxi", "ni": "gojek",
    "dh": "ebay", "uk": "airbnb", "nv": "naver", "kf": "weibo", "li": "baidu", "tx": "bolt", "rl": "indriver",
    "sn": "olx", "aon": "binance", "re": "coinbase", "ij": "revolut", "ep": "temu", "cn": "fiverr",
    "tl": "truecaller", "zh": "zoho", "ot": "other",
}
# Countries whose 5sim word is not their English name in lower case without spaces or accents.
_COUNTRY_WORDS: dict[int, str] = {
    16: "england", 20: "macau", 27: "ivorycoast", 63: "czech", 91: "easttimor", 101: "salvador", 104: "tit",
    106: "swaziland", 108: "bih", 109: "dominicana", 158: "bhutane", 166: "saintvincentandgrenadines",
}

SERVICE_CODE = re.compile(r"[a-z0-9_]{1,32}")
MAX_SERVICE_NAME_LENGTH = 64
# Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code points, and line or
# paragraph separators: nothing a person reads in a service's name, and some reorder or hide what follows.
_UNREADABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def product_word(service: str) -> str:
    return PRODUCTS.get(service, service)


def service_for_product(product: str) -> str | None:
    """Our code for a 5sim product word: from the table, else the word itself when it is a valid code."""
    word = product.strip().lower()
    return _services_by_product().get(word) or (word if SERVICE_CODE.fullmatch(word) else None)


def country_word(country_id: int) -> str:
    return _words_by_country().get(country_id, str(country_id))


def country_for_word(word: str) -> int | None:
    return _countries_by_word().get(word.strip().lower())


def clean_service_code(raw: object) -> str | None:
    """A partner's service code as ours, or None when it is not one (lower-case letters, digits, `_`)."""
    code = raw.strip().lower() if isinstance(raw, str) else ""
    return code if SERVICE_CODE.fullmatch(code) else None


def clean_service_name(raw: object) -> str | None:
    """A partner's service name fit to show: NFC, unreadable code points dropped, blanks collapsed, at most
    MAX_SERVICE_NAME_LENGTH characters (cut with …); None when nothing readable is left. It stays text: whatever
    shows it escapes it (the dashboard writes text nodes, the APIs JSON)."""
    if not isinstance(raw, str):
        return None
    readable = "".join(c for c in unicodedata.normalize("NFC", raw) if unicodedata.category(c) not in _UNREADABLE)
    name = " ".join(readable.split())
    if len(name) > MAX_SERVICE_NAME_LENGTH:
        name = name[:MAX_SERVICE_NAME_LENGTH - 1].rstrip() + "…"
    return name or None


@functools.cache
def _services_by_product() -> dict[str, str]:
    return {product: code for code, product in PRODUCTS.items()}


@functools.cache
def _words_by_country() -> dict[int, str]:
    return {c.id: _COUNTRY_WORDS.get(c.id) or _derived_word(c.name_en) for c in countries()}


@functools.cache
def _countries_by_word() -> dict[str, int]:
    return {word: country for country, word in _words_by_country().items()}


def _derived_word(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", plain)
