"""Browser fixtures: one headless Debian Chromium a session, tabs at desktop and phone width, screenshots."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from infra.local.stack import ROOT, Stack
from tests.browser.helpers import Shot

CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium, never a downloaded one: no `playwright install` anywhere.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ACTION_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is missing: run `make install` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _context(browser: Browser, viewport: ViewportSize, phone: bool) -> BrowserContext:
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone,
                                  device_scale_factor=1, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context


@pytest.fixture
def desktop(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh tab (own cookies and storage) 1280×800; console errors fail the test."""
    context = _context(browser, DESKTOP, phone=False)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.app_url)
    page = context.new_page()
    errors = _collect_errors(page)
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"


@pytest.fixture
def phone(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A fresh tab 375×740 with touch, like a small phone."""
    context = _context(browser, PHONE, phone=True)
    page = context.new_page()
    errors = _collect_errors(page)
    yield page
    context.close()
    assert not errors, f"the page logged errors: {errors}"


def _collect_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def sms_held_back(stack: Stack) -> Iterator[None]:
    """The partner simulator keeps its SMS for ten minutes, so a number can be canceled before any arrives."""
    config = requests.get(f"{stack.simulator_url}/_sim/state", timeout=5).json()["config"]
    requests.post(f"{stack.simulator_url}/_sim/config", json={"sms_delay_seconds": 600}, timeout=5).raise_for_status()
    yield
    requests.post(f"{stack.simulator_url}/_sim/config", json={"sms_delay_seconds": config["sms_delay_seconds"]},
                  timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def shot() -> Shot:
    """`shot(page, "topup")` writes test-artifacts/screenshots/topup-<width>.png (the whole page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> None:
        width = page.viewport_size["width"] if page.viewport_size else 0
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True, animations="disabled")

    return take
