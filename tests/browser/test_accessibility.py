"""Every dashboard page passes axe-core's WCAG 2.2 A/AA rules, signed out and signed in, at desktop and phone width."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from infra.local.stack import TOOLS, Stack
from tests.browser.conftest import ACTION_TIMEOUT_MS, DESKTOP, PHONE
from tests.browser.helpers import (
    PUBLIC_ROUTES,
    SESSION_KEY,
    SIGNED_IN_ROUTES,
    User,
    api,
    customer_with_history,
    open_route,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AXE = TOOLS / "axe" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@pytest.fixture(scope="module")
def customer(stack: Stack) -> User:
    """A user with something on every page: money, a number, an API key, a webhook and a support ticket."""
    return customer_with_history(stack.app_url, stack.stripe_url, stack.outbox, "axe")


def _violations(page: Page) -> list[str]:
    """axe-core's WCAG A/AA violations on the page as it is now, one line each: rule, impact, first elements."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                          ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact,"
                          " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))", WCAG_TAGS)
    return [f"{v['id']} ({v['impact']}): {json.dumps(v['nodes'])}" for v in found]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page__has_no_wcag_violations(viewport: ViewportSize, browser: Browser, stack: Stack,
                                            customer: User) -> None:
    assert AXE.exists(), f"axe-core is missing at {AXE}: run `make install`"
    # The page's CSP forbids injected scripts, rightly; only this checking tab bypasses it to load axe-core.
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE,
                                  locale="en-US", timezone_id="UTC", bypass_csp=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    try:
        _check_every_page(page, stack, customer)
    finally:
        context.close()


def _check_every_page(page: Page, stack: Stack, customer: User) -> None:
    problems: dict[str, list[str]] = {}
    # Given a visitor, then the same tab signed in as a customer with some history
    for signed_in, routes in [(False, PUBLIC_ROUTES), (True, SIGNED_IN_ROUTES)]:
        if signed_in:
            page.evaluate("([key, token]) => localStorage.setItem(key, token)", [SESSION_KEY, customer.token])
        for route in routes:
            # When axe-core checks the page once it has rendered
            open_route(page, stack.app_url, route)
            if found := _violations(page):
                problems[route] = found
    activation_id = api(stack.app_url, "GET", "/v1/activations", customer.token).json()["items"][0]["id"]
    rental_id = api(stack.app_url, "GET", "/v1/rentals", customer.token).json()["items"][0]["id"]
    for route in (f"/activation/{activation_id}", f"/rental/{rental_id}"):
        open_route(page, stack.app_url, route)
        if found := _violations(page):
            problems[route.rsplit("/", 1)[0]] = found
    # Then no page breaks a WCAG 2.2 A/AA rule axe-core can check
    assert not problems, json.dumps(problems, indent=1)
