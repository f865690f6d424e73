"""An agreement version's text (13.1–13.3): what a publishable text is, its headings, and what changed between two.

Pure: no storage. The admin's file is checked here (UTF-8, size, characters, effective date) and the dashboard
gets the text as blocks (title, headings, paragraphs, lists) and the changes to the previous version as blocks.
"""
from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from chalicelib.domain.errors import InvalidInput

MAX_TEXT_BYTES = 128 * 1024  # the bundled agreement is ~12 KB; a DynamoDB item holds 400 KB
MAX_DAYS_AHEAD = 366  # a date further out is a typo, not a plan
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # ASCII digits only: '²' or '٣' are not a date
# Format characters that may stay: zero-width (non-)joiner and the soft hyphen, which real text uses. The others
# (bidirectional overrides and isolates, zero-width spaces, BOMs) can make a clause read differently than stored.
_ALLOWED_FORMAT = frozenset("\u200c\u200d\u00ad")
_BULLET = re.compile(r"^\s*[•·\-*]\s+")
_CLAUSE = re.compile(r"^[0-9]+(\.[0-9]+)*\.\s")
_HEADING_MAX = 60


@dataclass(frozen=True)
class Block:
    kind: str  # "title" | "heading" | "paragraph" | "list"
    lines: tuple[str, ...]  # one line, or a list's items

    def as_json(self) -> dict[str, object]:
        if self.kind == "list":
            return {"kind": self.kind, "items": list(self.lines)}
        return {"kind": self.kind, "text": self.lines[0]}


@dataclass(frozen=True)
class Change:
    op: str  # "added" | "removed"
    block: Block
    under: str | None  # the heading the change sits under, for context

    def as_json(self) -> dict[str, object]:
        return {"op": self.op, "under": self.under, **self.block.as_json()}


def checked_text(text: str) -> str:
    """The text as it will be stored (CRLF → LF, one leading BOM and trailing blank space dropped); raises
    InvalidInput when it is empty, too long, not encodable (lone surrogates) or carries invisible controls."""
    text = text.removeprefix("\ufeff")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("The agreement text has a lone surrogate (broken UTF-16): it is not valid Unicode.",
                           details={"field": "text"}) from None
    if size > MAX_TEXT_BYTES:
        raise InvalidInput(f"The agreement text is {size} bytes; at most {MAX_TEXT_BYTES} are allowed.",
                           details={"field": "text", "max_bytes": MAX_TEXT_BYTES})
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    for line_no, line in enumerate(text.split("\n"), start=1):
        bad = next((c for c in line if _hidden(c)), None)
        if bad is not None:
            raise InvalidInput(f"Line {line_no} has the invisible or control character U+{ord(bad):04X} "
                               f"({unicodedata.name(bad, 'unnamed')}); remove it.",
                               details={"field": "text", "line": line_no})
    if not text.strip():
        raise InvalidInput("The agreement text is empty.", details={"field": "text"})
    return text


def _hidden(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Cf":
        return char not in _ALLOWED_FORMAT
    return (category in ("Cc", "Cs", "Co", "Cn") and char != "\t") or category in ("Zl", "Zp")


def effective_date(raw: str, today: date) -> date:
    """`YYYY-MM-DD`, today or later (UTC) and within a year; raises InvalidInput naming what is wrong."""
    if not _DATE.match(raw):
        raise InvalidInput(f"The effective date must be written YYYY-MM-DD (e.g. {today.isoformat()}).",
                           details={"field": "effective"})
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{raw} is not a calendar date.", details={"field": "effective"}) from None
    if day < today:
        raise InvalidInput(f"The effective date {raw} is in the past (today is {today.isoformat()}, UTC).",
                           details={"field": "effective"})
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput(f"The effective date {raw} is more than {MAX_DAYS_AHEAD} days away.",
                           details={"field": "effective"})
    return day


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def blocks(text: str) -> list[Block]:
    """The text as the reader sees it: the first paragraph is the title, short lines without a full stop are
    headings, bullet lines a list; every line of the text stays, in order."""
    found: list[Block] = []
    for paragraph in _paragraphs(text):
        lines = paragraph.split("\n")
        if not found:
            found.append(Block("title", (" ".join(line.strip() for line in lines),)))
            continue
        start = 0
        if not _BULLET.match(lines[0]) and len(lines) > 1 and _BULLET.match(lines[1]):
            found.append(_line_block(lines[0]))
            start = 1
        items = lines[start:]
        if items and all(_BULLET.match(line) for line in items):
            found.append(Block("list", tuple(_BULLET.sub("", line).strip() for line in items)))
        elif items:
            found.append(_line_block(" ".join(line.strip() for line in items)))
    return found


def _line_block(line: str) -> Block:
    line = line.strip()
    heading = (len(line) <= _HEADING_MAX and not _CLAUSE.match(line) and " — " not in line
               and not line.endswith((".", ";", ":", ",", "!", "?")))
    return Block("heading" if heading else "paragraph", (line,))


def _paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def changes(previous: str, current: str) -> list[Change]:
    """The blocks removed from `previous` and added in `current`, in reading order, each with its heading."""
    old, new = blocks(previous), blocks(current)
    found: list[Change] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        found.extend(Change("removed", block, _heading_before(old, i)) for i, block in enumerate(old[a0:a1], a0))
        found.extend(Change("added", block, _heading_before(new, i)) for i, block in enumerate(new[b0:b1], b0))
    return found


def _heading_before(found: list[Block], index: int) -> str | None:
    return next((b.lines[0] for b in reversed(found[:index]) if b.kind in ("heading", "title")), None)
