"""Success rates and marked numbers against DynamoDB Local and simulators over real HTTP: the rate shown by the
REST catalog and the handler API, traffic leaving a partner that starts failing, and a number one user reported
bad never sold to another (cancelled at the partner when it comes back anyway, at no cost to the user)."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import requests

from chalicelib.domain.errors import NoNumbers
from chalicelib.services.activations import catalog, delivery_memory
from chalicelib.services.activations.ordering import OrderRequest
from tests.integration.test_activations_partners import account, balance_and_ledger, calls, configure, desk
from tests.support import (
    customer_with_key,
    deliver_sms,
    eventually,
    priced_settings,
    sleep_past_grace,
    sms_only_on_demand,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's facades read the latest counters and marks (a container keeps them seconds)."""
    for name in ("RATES_CACHE_SECONDS", "LISTING_RATES_CACHE_SECONDS", "MARKS_CACHE_SECONDS"):
        monkeypatch.setattr(delivery_memory, name, 0.0)
    monkeypatch.setattr(catalog, "_LISTING_CACHE_SECONDS", 0.0)


def _rest_item(stack: Any, service: str, country: int) -> dict[str, Any]:
    items = requests.get(f"{stack.app_url}/v1/catalog", params={"service": service, "country": str(country)},
                         timeout=10).json()["items"]
    return next(i for i in items if i["operator"] == "any")


def test_catalog_http__a_code_received_shows_in_the_rate_of_its_service_and_country(stack):
    # Given a bot that buys a Viber number in India over REST and receives its code
    customer = customer_with_key(priced_settings(stack), 1000)
    auth = {"Authorization": f"Bearer {customer.api_key}"}
    before = _rest_item(stack, "vi", 22)["outcomes_24h"]
    with sms_only_on_demand(stack):
        order = requests.post(f"{stack.app_url}/v1/activations", json={"service": "vi", "country": 22},
                              headers=auth, timeout=10).json()
        deliver_sms(stack, order["phone"], "Your Viber code is 123456")
        got = eventually(lambda: requests.get(f"{stack.app_url}/v1/activations/{order['id']}", headers=auth,
                                              timeout=10).json(), lambda a: a["status"] == "RECEIVED")
        assert got["status"] == "RECEIVED"
        # And a second number it cancels without a code
        second = requests.post(f"{stack.app_url}/v1/activations", json={"service": "vi", "country": 22},
                               headers=auth, timeout=10).json()
        sleep_past_grace(time.monotonic())
        requests.post(f"{stack.app_url}/v1/activations/{second['id']}/cancel", headers=auth,
                      timeout=10).raise_for_status()
    # When anyone reads the price list (each container reads the counters again within seconds)
    item = eventually(lambda: _rest_item(stack, "vi", 22), lambda i: i["outcomes_24h"] >= before + 2, seconds=30)
    # Then both outcomes count, with a percentage between none and all, the week holding at least as many
    assert item["outcomes_24h"] >= before + 2
    assert 0 < item["success_percent_24h"] < 100
    assert item["outcomes_7d"] >= item["outcomes_24h"]
    # And the handler API's top countries carry the same rate for India
    handler = requests.get(f"{stack.app_url}/stubs/handler_api.php", timeout=10, params={
        "api_key": customer.api_key, "action": "getTopCountriesByService", "service": "vi"}).json()
    assert handler["22"]["rate"] == item["success_percent_24h"]


def test_routing__a_partner_whose_numbers_stop_receiving_codes_loses_the_traffic(stack_settings, sims, fresh_views):
    # Given a cheap partner whose numbers never receive a code and a dearer one whose numbers do
    failing, working = sims(), sims(sms_delay_seconds=0)
    configure(failing, no_sms_rate=1.0, prices={"tg:0": 40})
    configure(working, prices={"tg:0": 45})
    facade = desk(stack_settings, failing, working, routing_min_samples=3, routing_rate_floor=Decimal("0.2"),
                  cancel_grace_seconds=0)
    user = account(stack_settings, 10_000)
    # When users order and cancel the numbers that bring nothing, then go on ordering
    for _ in range(3):
        activation = facade.order(user, OrderRequest("tg", 0))
        facade.cancel(user.account_id, int(activation.activation_id))
    later = [facade.order(user, OrderRequest("tg", 0)) for _ in range(3)]
    # Then the failing partner got the first three and none since: the working one took the traffic
    assert calls(failing)["getNumber"] == 3
    assert {a.partner for a in later} == {facade.partners[1].name}
    # And once the working one alone is left failing too, the pair is no longer sold (nothing charged)
    configure(working, no_sms_rate=1.0)
    for _ in range(3):
        activation = facade.order(user, OrderRequest("tg", 0))
        facade.cancel(user.account_id, int(activation.activation_id))
    balance = balance_and_ledger(user.account_id)[0]
    with pytest.raises(NoNumbers):
        facade.order(user, OrderRequest("tg", 0))
    assert balance_and_ledger(user.account_id)[0] == balance


def test_marked_numbers__a_number_one_user_banned_is_excluded_for_everyone(stack_settings, sims, fresh_views):
    # Given a partner that hands out numbers it issued before, and a user who reported one bad for Telegram
    sim = sims()
    facade = desk(stack_settings, sim, cancel_grace_seconds=0)
    reporter, other = account(stack_settings, 1000), account(stack_settings, 1000)
    banned = facade.order(reporter, OrderRequest("tg", 187))
    facade.ban(reporter.account_id, int(banned.activation_id))
    configure(sim, reuse_rate=1.0)
    # When another user orders Telegram there
    second = facade.order(other, OrderRequest("tg", 187))
    # Then the partner was told to exclude it and gave another: one purchase, one charge
    assert second.status == "WAITING" and second.phone != banned.phone
    assert calls(sim)["getNumber"] == 2
    assert balance_and_ledger(other.account_id)[0] == 1000 - int(second.price_cents)


def test_marked_numbers__a_partner_ignoring_the_exclusion_has_its_answer_cancelled_at_no_cost(
        stack_settings, sims, fresh_views):
    # Given a partner that ignores phoneException and can only hand out a number reported bad for Telegram
    sim = sims()
    facade = desk(stack_settings, sim, cancel_grace_seconds=0)
    reporter, other = account(stack_settings, 1000), account(stack_settings, 1000)
    banned = facade.order(reporter, OrderRequest("tg", 16))
    facade.ban(reporter.account_id, int(banned.activation_id))
    configure(sim, reuse_rate=1.0, honour_phone_exception=False)
    # When another user orders Telegram there
    activation = facade.order(other, OrderRequest("tg", 16))
    # Then each answer with the marked number was cancelled at the partner, no number was sold, and the user's
    # money is all back (one charge, one refund)
    assert activation.status == "FAILED"
    state = requests.get(f"{sim.url}/_sim/state", timeout=5).json()
    assert [a["status"] for a in state["activations"]].count("CANCELED") == 1 + 2
    assert balance_and_ledger(other.account_id) == (1000, 1000)
