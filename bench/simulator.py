"""The partner simulator's test controls, for benchmarks: configure it, deliver an SMS, read its call counters."""
from __future__ import annotations

from collections import Counter
from typing import Any

import requests


class SimulatorControl:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def configure(self, **settings: Any) -> None:
        self.http.post(f"{self.base_url}/_sim/config", json=settings, timeout=10).raise_for_status()

    def reset(self) -> None:
        self.http.post(f"{self.base_url}/_sim/reset", json={}, timeout=10).raise_for_status()

    def deliver(self, phone: str, text: str) -> None:
        self.http.post(f"{self.base_url}/_sim/deliver", json={"phone": phone, "text": text},
                       timeout=10).raise_for_status()

    def calls(self) -> Counter[str]:
        """Protocol calls answered so far, by action (getNumber, getStatus, getActiveActivations…)."""
        state = self.http.get(f"{self.base_url}/_sim/state", timeout=30).json()
        return Counter({str(k): int(v) for k, v in state["calls"].items()})


def describe_calls(before: Counter[str], after: Counter[str], operations: int) -> str:
    """Partner calls per operation between two readings, e.g. `1 (getNumberV2 1)`."""
    delta = after - before
    per = max(operations, 1)
    total = sum(delta.values()) / per
    detail = ", ".join(f"{action} {count / per:g}" for action, count in sorted(delta.items()))
    return f"{total:g} ({detail})" if detail else "0"
