"""The success rate in the price list and the buy form: what share of our numbers received a code."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.browser.helpers import open_route, sign_in_page, verified_user
from tests.support import (
    customer_with_key,
    deliver_sms,
    eventually,
    priced_settings,
    sleep_past_grace,
    sms_only_on_demand,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SERVICE, COUNTRY = "mm", 16  # Microsoft in the United Kingdom: no other test orders it


def _item(stack: Stack) -> dict[str, Any]:
    items = requests.get(f"{stack.app_url}/v1/catalog", params={"service": SERVICE, "country": str(COUNTRY)},
                         timeout=10).json()["items"]
    return next(i for i in items if i["operator"] == "any")


def _one_received_one_canceled(stack: Stack) -> None:
    customer = customer_with_key(priced_settings(stack), 1000)
    auth = {"Authorization": f"Bearer {customer.api_key}"}
    with sms_only_on_demand(stack):
        received = requests.post(f"{stack.app_url}/v1/activations", json={"service": SERVICE, "country": COUNTRY},
                                 headers=auth, timeout=10).json()
        canceled = requests.post(f"{stack.app_url}/v1/activations", json={"service": SERVICE, "country": COUNTRY},
                                 headers=auth, timeout=10).json()
        bought = time.monotonic()
        deliver_sms(stack, received["phone"], "Your Microsoft code is 482913")
        eventually(lambda: requests.get(f"{stack.app_url}/v1/activations/{received['id']}", headers=auth,
                                        timeout=10).json()["status"], lambda status: status == "RECEIVED")
        sleep_past_grace(bought)
        requests.post(f"{stack.app_url}/v1/activations/{canceled['id']}/cancel", headers=auth,
                      timeout=10).raise_for_status()


@pytest.fixture(scope="module")
def rated(stack: Stack) -> dict[str, Any]:
    """Microsoft numbers in the United Kingdom with a success rate: one received its code, one was canceled without;
    the catalog item once it counts both."""
    priced_settings(stack)  # the partners' prices in the catalog, whichever test ran first
    before = _item(stack)["outcomes_24h"]
    _one_received_one_canceled(stack)
    return eventually(lambda: _item(stack), lambda i: i["outcomes_24h"] >= before + 2, seconds=30)


def test_success_rate__shown_in_the_price_list_and_the_buy_form(desktop: Page, stack: Stack,
                                                                 rated: dict[str, Any]) -> None:
    # Given Microsoft numbers in the United Kingdom: one received its code, one was canceled without
    shown = f"{round(rated['success_percent_24h'])}%"
    assert 0 < rated["success_percent_24h"] < 100

    # When a signed-in user opens the price list and finds that row
    sign_in_page(desktop, verified_user(stack.app_url, stack.outbox, "rate"))
    open_route(desktop, stack.app_url, "/prices")
    desktop.get_by_label("Service").fill("Microsoft")
    desktop.get_by_label("Country").fill("United Kingdom")
    row = desktop.locator("tbody tr", has=desktop.get_by_text("United Kingdom", exact=True))

    # Then its "Got a code" cell shows the day's percentage, the week's beside it
    expect(row.locator(".success")).to_contain_text(shown)
    expect(row.locator(".success")).to_contain_text("7 days")
    expect(desktop.get_by_role("columnheader", name="Got a code (24 h)")).to_be_visible()

    # And the buy form shows it next to the price
    open_route(desktop, stack.app_url, f"/buy?service={SERVICE}")
    desktop.get_by_label("Find a country").fill("United Kingdom")
    offer = desktop.locator("#country-offers tbody tr").first
    expect(offer.locator(".success")).to_contain_text(shown)


def test_partner_named_service__its_name_shows_as_text_never_as_markup(desktop: Page, stack: Stack) -> None:
    # Given the partner sells a service our list lacks, named with markup and a right-to-left override
    priced_settings(stack)
    hostile = '<img src=x onerror="window.pwned=1">Quiz Club'

    # When the price list is searched for it
    open_route(desktop, stack.app_url, "/prices")
    desktop.get_by_label("Service").fill("Quiz")

    # Then the partner's name is shown as the text it is: no image made, no script run, the override gone
    expect(desktop.locator("tbody tr").first).to_contain_text(hostile)
    assert desktop.locator("tbody img").count() == 0
    assert desktop.evaluate("() => window.pwned") is None


@pytest.mark.usefixtures("rated")
def test_success_rate__on_a_phone_the_price_list_and_buy_form_fit_the_screen_with_buy_in_reach(
        phone: Page, stack: Stack) -> None:
    # Given a country whose numbers have a success rate to show (the day's and the week's, the longest cell a row has)
    sign_in_page(phone, verified_user(stack.app_url, stack.outbox, "rate-phone"))
    width = phone.viewport_size["width"] if phone.viewport_size else 0
    for route, buy in ((f"/buy?service={SERVICE}", "#country-offers tbody tr"), ("/prices", "tbody tr")):
        # When a user opens the buy form for that service, or the price list, on a 375 px phone
        open_route(phone, stack.app_url, route)
        if route == "/prices":
            phone.get_by_label("Service").fill("Microsoft")
        phone.get_by_label("Find a country" if route != "/prices" else "Country").fill("United Kingdom")
        row = phone.locator(buy).first
        expect(row.locator(".success")).to_contain_text("7 days")
        # Then nothing scrolls sideways, and the row's Buy control lies wholly on the screen
        assert phone.evaluate("document.documentElement.scrollWidth") <= width, f"{route} scrolls sideways"
        box = row.locator("td.action :is(button, a)").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{route}: Buy at {box}"
