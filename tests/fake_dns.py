"""A resolver for tests: names answer what the test says (a public address by default), changeable mid-test."""
from __future__ import annotations

from dataclasses import dataclass, field

PUBLIC_ADDRESS = "93.184.216.34"


@dataclass
class FakeDns:
    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.get(host, [PUBLIC_ADDRESS])
