"""Fixtures the integration suites share."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.local.simulator.server import SimulatorHandle, start_simulator

NO_SMS = 3600.0  # a delay that never comes during a test


@pytest.fixture
def sims() -> Iterator[Callable[..., SimulatorHandle]]:
    """Start simulators on free ports (configured like `/_sim/config`, no SMS unless told); all stopped after."""
    started: list[SimulatorHandle] = []

    def start(**config: Any) -> SimulatorHandle:
        started.append(start_simulator(**{"sms_delay_seconds": NO_SMS, **config}))
        return started[-1]

    yield start
    for handle in started:
        handle.stop()
