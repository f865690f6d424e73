"""Pull the verification code out of an SMS text, so users and bots get the code and not the whole message.

Codes are 4–8 digits, possibly written `123-456` or `123 456` (returned as `123456`). The search goes
from the most to the least certain signal and stops at the first hit:
1. a domain-bound line (`@apple.com #123456`, the WebOTP format);
2. brand formats that name their code (`G-123456`, `FB-12345`, `Telegram code 12345`,
   `Use 1234 as Microsoft account security code`), the given service's first;
3. phrases that tie a number to the word code (`123456 is your verification code`);
4. the candidate nearest to a code word (code, код, kod, kode, código, pin, otp, 验证码, 인증번호…).
Before 3 and 4, links, e-mail addresses and `+`-prefixed phone numbers are blanked out.

Choices (pragmatic, each covered by a test):
- Not codes: digit runs longer than 8 (phone and account numbers), pieces of dates, times,
  decimals and digit groups (`2024-05-01`, `12:45`, `1,500`, `8 800 555 35 35`), amounts after a
  currency sign or before `%`, and a year after `©`/`(c)`/`copyright`. Other 19xx/20xx numbers are
  kept (2024 is a valid PIN) but lose ties to other candidates.
- Only 3+3 groups are joined (WhatsApp, Instagram); `1234 5678` is two numbers, not one code.
- Digits of any script (Arabic-Indic, full-width) count and come back as ASCII.
- Alphanumeric codes (Steam `V8K2M`) are out of scope: None, never a fragment of them.
"""
from __future__ import annotations

import re
import sys

_CODE = r"(?<![0-9A-Za-z_])([0-9]{3}[ \u00a0-][0-9]{3}|[0-9]{4,8})(?![0-9A-Za-z_])"
_SEP = r"[ \u00a0\-.,:/]"

# Checked on the text as received: the domain and the code are what the format promises.
_DOMAIN_BOUND = re.compile(r"@[A-Za-z0-9.-]+\.[A-Za-z]{2,}[ \t]+#([0-9]{4,8})(?![0-9A-Za-z])")

_BRANDED: dict[str, tuple[re.Pattern[str], ...]] = {
    "go": (re.compile(r"(?<![A-Za-z0-9])G-([0-9]{4,8})(?![0-9A-Za-z])"),),
    "fb": (re.compile(r"(?<![A-Za-z0-9])FB-([0-9]{4,8})(?![0-9A-Za-z])"),),
    "tg": (re.compile(rf"Telegram(?: code)?\s*:?\s*{_CODE}", re.IGNORECASE),),
    "wa": (re.compile(rf"WhatsApp(?: code)?\s*:?\s*{_CODE}", re.IGNORECASE),),
    "mm": (re.compile(rf"\buse {_CODE} as Microsoft", re.IGNORECASE),
           re.compile(rf"Microsoft[A-Za-z ]{{0,30}}code\s*:?\s*{_CODE}", re.IGNORECASE)),
}

_PHRASES: tuple[re.Pattern[str], ...] = (
    re.compile(rf"{_CODE} is your (?:[A-Za-z-]+ ){{0,3}}(?:code|otp|pin|passcode|password)\b", re.IGNORECASE),
    re.compile(rf"\buse {_CODE} as (?:[A-Za-z-]+ ){{0,4}}code\b", re.IGNORECASE),
)

_NOISE = re.compile(
    r"https?://\S+|www\.\S+"  # links
    r"|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/\S*"  # bare links: v.whatsapp.com/123456
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\+[0-9][0-9 \u00a0().-]{5,}[0-9]"  # international phone numbers
)

_CANDIDATE = re.compile(rf"(?<![0-9]{_SEP}){_CODE}(?!{_SEP}[0-9])")

_KEYWORD = re.compile(
    r"(?<![A-Za-z])(?:codes?|codice|c[oó]digo|kod[a-z]*|pin|otp|passcode|password|verification|confirmation)"
    r"(?![A-Za-z])"
    r"|код[а-яё]*|пароль|验证码|驗證碼|校验码|認証コード|確認コード|인증\s?번호|mã|رمز",
    re.IGNORECASE,
)

_NOT_BEFORE = re.compile(r"(?:©|\(c\)|copyright|[$€£¥₽])\s*$", re.IGNORECASE)
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")


def extract_code(text: str, service: str | None = None) -> str | None:
    """The verification code in `text` as ASCII digits, or None when there is no convincing one.

    `service` is the SMS-Activate service code (tg, wa, go…); it only decides which brand formats
    are tried first, since partners sometimes label an SMS with the wrong service.
    """
    normalized = _ascii_digits(text)
    domain_bound = _DOMAIN_BOUND.search(normalized)
    if domain_bound:
        return domain_bound.group(1)
    cleaned = _NOISE.sub(lambda m: " " * len(m.group()), normalized)
    for pattern in (*_branded_first(service), *_PHRASES):
        match = pattern.search(cleaned)
        if match:
            return _digits(match.group(1))
    return _nearest_to_keyword(cleaned)


def _branded_first(service: str | None) -> list[re.Pattern[str]]:
    preferred = list(_BRANDED.get(service or "", ()))
    return preferred + [p for patterns in _BRANDED.values() for p in patterns if p not in preferred]


def _nearest_to_keyword(text: str) -> str | None:
    candidates = [m for m in _CANDIDATE.finditer(text)
                  if not _NOT_BEFORE.search(text, 0, m.start()) and not text.startswith("%", m.end())]
    if not candidates:
        return None
    keywords = [m.span() for m in _KEYWORD.finditer(text)]
    best = min(candidates, key=lambda m: (_distance(m.span(), keywords), _YEAR.fullmatch(m.group(1)) is not None,
                                          m.start()))
    return _digits(best.group(1))


def _distance(span: tuple[int, int], keywords: list[tuple[int, int]]) -> int:
    start, end = span
    return min((max(k_start - end, start - k_end, 0) for k_start, k_end in keywords), default=sys.maxsize)


def _ascii_digits(text: str) -> str:
    # Arabic-Indic or full-width digits are digits to the reader; the regexes only know 0-9.
    return "".join(str(int(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


def _digits(code: str) -> str:
    return "".join(ch for ch in code if ch.isdigit())
