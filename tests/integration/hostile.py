"""Hostile input for the fuzz suites (a fixed corpus: every run sends the same requests) and the app log they check.

Each category is one way Python's text handling surprises a parser: digits of other scripts pass str.isdigit()
(and int() takes some of them), unpaired surrogates fit in a str but no UTF-8 encoder takes them, combining and
direction marks change how text looks, NUL ends C strings, and size and nesting exhaust limits.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

OTHER_DIGITS = ["²", "³", "¹⁰", "٣", "۳", "१२", "৩", "１２", "𝟗", "߁", "፲", "Ⅻ", "½", "⑫", "1²", "٣0"]
NUMBER_LIKE = ["-1", "+1", "0", "00", "1.5", "1e3", "0x10", " 1", "1 ", "9" * 16, "9" * 40, "9" * 5000, "NaN",
               "Infinity", ""]
SURROGATES = ["\ud800", "\udfff", "a\ud800b", "\udc00\ud800", "\ud83d"]
COMBINING = ["e\u0301", "\u0301", "a" + "\u0301" * 200, "\u0e47" * 50]
DIRECTION = ["\u202e1", "\u200f", "\u202egnp.exe", "مرحبا", "\u2066x\u2069"]
CONTROL = ["\x00", "1\x00", "a\x00b", "\x1b[31m", "\r\nX-Injected: 1", "\t", "\x7f"]
INVISIBLE = ["\u200b", "\ufeff1", "\u2060", "\uffff", "\U0010ffff"]
HUGE = ["x" * 5000, "😀" * 3000, "9" * 100_000]
MISC = ["../../etc/passwd", "%00", "${jndi:ldap://x}", "'; DROP TABLE x; --", "😀", "<script>", "tg", "any"]

TEXT = OTHER_DIGITS + NUMBER_LIKE + SURROGATES + COMBINING + DIRECTION + CONTROL + INVISIBLE + HUGE + MISC
# One of each kind: for the many (route, field) pairs where the whole corpus would cost too much time
SAMPLE = ["²", "٣", "１２", "9" * 40, "9" * 5000, "-1", "\ud800", "a\udfffb", "e\u0301", "\u202e1", "\x00", "\u200b",
          "x" * 5000, "😀", "", "../x"]
# What broke the service once: always sent
ALWAYS = ["\ud800", "²", "9" * 40, "9" * 5000]
ALWAYS_IN_URL = ["%ED%A0%80", "%C2%B2", "9" * 40, "9" * 5000]
# JSON values that are not strings
NON_TEXT: list[object] = [10**40, -(10**20), 1e308, -0.0, True, None, [], {}, ["x"], {"a": 1}, 0]
# Bodies that are not the object a route reads
BODIES = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 20_000 + b"1" + b"}" * 20_000, b"[]", b"1e400", b'"\\ud800"',
          b'{"a":"\\ud800"}', b"\xff\xfe", b"{\x00}", b"", b"null", b"{" * 40 + b"}" * 40]
# Bytes in a URL that decode to no character (or to a surrogate in CESU-8)
RAW_URL = ["%ED%A0%80", "%FF", "%C0%80", "%00", "%E2%80%AE", "%F0%9F%98%80", "%25", "%2F..%2F", "%0D%0A"]


T = TypeVar("T")
# SMSROOMS_FUZZ_FULL=1 sends the whole corpus to every field (minutes); by default each field gets the values that
# broke something once plus a rotating share of the rest, so that across the fields every value is sent (seconds).
FULL = os.environ.get("SMSROOMS_FUZZ_FULL") == "1"
SHARE = 4


def share(values: Sequence[T], always: Sequence[T], index: int) -> list[T]:
    """The values the `index`-th field gets: `always`, and the next SHARE of the others in turn."""
    rest = [v for v in values if v not in always]
    if FULL or not rest:
        return [*always, *rest]
    start = index * SHARE
    return [*always, *(rest[(start + k) % len(rest)] for k in range(min(SHARE, len(rest))))]


def url_encoded(value: str) -> str:
    """`value` for a URL, surrogates written as the CESU-8 bytes a hostile client would send."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def url_values(values: list[str]) -> list[str]:
    return [url_encoded(v) for v in values] + RAW_URL


def json_bytes(body: object) -> bytes:
    return json.dumps(body).encode()  # ASCII escapes: a lone surrogate travels as "\ud800"


@dataclass
class AppLog:
    """The app's log from the moment of `start`: new lines the app logged with an exception trace."""

    path: Path
    offset: int = field(default=0)

    @classmethod
    def start(cls, data_dir: Path, name: str = "app") -> AppLog:
        return cls.at(data_dir / "logs" / f"{name}.log")

    @classmethod
    def at(cls, path: Path) -> AppLog:
        return cls(path, path.stat().st_size if path.exists() else 0)

    def new_text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode("utf-8", "replace")

    def exceptions(self) -> list[str]:
        found = []
        for line in self.new_text().splitlines():
            if line.startswith("{") and ('"exception"' in line or '"level":"ERROR"' in line):
                found.append(line[:600])
            elif line.startswith("Traceback"):
                found.append(line)
        return found


@dataclass
class Findings:
    """Every reply that broke the rule, with what reproduces it."""

    sent: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, what: str, status: int, body: str) -> None:
        self.sent += 1
        if status >= 500:
            self.problems.append(f"{what} → {status} {body[:160]!r}")

    def assert_clean(self, log: AppLog) -> None:
        logged = log.exceptions()
        assert not self.problems, f"{len(self.problems)} of {self.sent} requests answered 5xx:\n" + "\n".join(
            self.problems[:20])
        assert not logged, f"{len(logged)} exceptions logged during {self.sent} requests:\n" + "\n".join(logged[:5])
