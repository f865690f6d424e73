"""The user agreement's versions (13.1–13.3): the current one is served, old ones stay readable."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from chalicelib.domain.errors import NotFound

_DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class Agreement:
    version: str
    text: str


@functools.cache
def agreement(version: str) -> Agreement:
    if not version.isdigit():
        raise NotFound(f"There is no agreement version '{version}'.")
    path = _DATA / f"agreement_v{version}.txt"
    if not path.exists():
        raise NotFound(f"There is no agreement version '{version}'.")
    return Agreement(version=version, text=path.read_text(encoding="utf-8"))


def versions() -> list[str]:
    return sorted((p.stem.removeprefix("agreement_v") for p in _DATA.glob("agreement_v*.txt")), key=int)
