"""Fixtures of the reuse suites: reactivations, multi-service and bulk orders over HTTP on the local stack."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.money import parse_major
from tests.support import Customer, customer_with_key, priced_on_demand

Handler = Callable[..., requests.Response]


@pytest.fixture(scope="module")
def priced(stack: Any) -> Iterator[Settings]:
    """The stack's settings with prices loaded; SMS arrive only when a test delivers one."""
    with priced_on_demand(stack) as settings:
        yield settings


@pytest.fixture
def handler(stack: Any, priced: Settings) -> Handler:
    """GET /stubs/handler_api.php with the given parameters."""
    url = f"{stack.app_url}/stubs/handler_api.php"

    def call(**params: str | int) -> requests.Response:
        return requests.get(url, params=params, timeout=30)

    return call


@pytest.fixture
def customer(priced: Settings) -> Customer:
    """A verified account holding 10.00, with an API key of every scope."""
    return customer_with_key(priced, balance_cents=1000)


@pytest.fixture
def simulator(stack: Any) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Change the partner simulator for one test; its settings and the stock it touched are put back after."""
    state = requests.get(f"{stack.simulator_url}/_sim/state", timeout=5).json()
    changes: list[dict[str, Any]] = []

    def change(settings: dict[str, Any]) -> None:
        changes.append(settings)
        requests.post(f"{stack.simulator_url}/_sim/config", json=settings, timeout=5).raise_for_status()

    yield change
    for settings in changes:
        undo = {k: state["config"][k] for k in settings if k != "stock"}
        if "stock" in settings:
            undo["stock"] = {offer: state["stock"][offer] for offer in settings["stock"]}
        requests.post(f"{stack.simulator_url}/_sim/config", json=undo, timeout=5).raise_for_status()


def price(handler: Handler, key: str, service: str, country: int) -> int:
    """Our price of (service, country) as getPrices says it, in cents."""
    prices = handler(api_key=key, action="getPrices", service=service, country=country).json()
    return parse_major(str(prices[str(country)][service]["cost"]))
