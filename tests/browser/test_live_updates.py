"""Live updates in headless Chromium: the code a partner pushes reaches the open number's page down its WebSocket
within a second, and without a socket the page's polling still shows it.

The first test prints its figure (partner push to code on screen, in milliseconds) for docs/benchmarks.md. The goal
(issue 18: one second) is judged there and by `make bench`'s live-latency row, not by this test: a timed assertion at
the goal fails on a starved machine (1,004 ms at load average 20 on 2 cores) and would make CI depend on its
neighbours. What the test asserts is what the user sees: with every read of the activation failing, only the socket
can bring the code, and it shows within a bound that no poll could meet (the page polls every 15 s beside a socket).
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, WebSocket, WebSocketRoute, expect

from infra.local.stack import Stack
from tests.browser.helpers import number_on_screen

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PUSH_BOUND_MS = 3000  # far below the 15 s poll beside a live socket; the 1 s goal is the bench's

# In the page: when the code first shows, in epoch ms.
_WATCH = """(code) => {
  window.codeSeenAt = null;
  new MutationObserver(() => {
    const shown = document.querySelector('#code').textContent.includes(code);
    if (shown && !window.codeSeenAt) window.codeSeenAt = Date.now();
  }).observe(document.querySelector('#code'), {childList: true, subtree: true, characterData: true});
}"""


def _deliver(stack: Stack, page: Page, code: str) -> float:
    """The partner gets an SMS for the page's number and pushes it to us; when, in epoch ms."""
    phone = page.locator("#phone").inner_text()
    pushed_at_ms = time.time() * 1000
    requests.post(f"{stack.simulator_url}/_sim/deliver", json={"phone": phone, "text": f"Your code is {code}"},
                  timeout=5).raise_for_status()
    return pushed_at_ms


def test_activation_page__a_pushed_code_is_on_screen_at_once_by_the_socket(desktop: Page, stack: Stack,
                                                                                    sms_held_back: None) -> None:
    # Given a user looking at the number they just bought, its page holding a ready live socket
    page, code = desktop, "73519"
    frames: list[dict[str, Any]] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(json.loads(frame))))
    number_on_screen(page, stack.app_url, stack.stripe_url, stack.outbox, "live")
    expect(page.locator("html")).to_have_attribute("data-live", "on")
    activation_id = page.url.rsplit("/", 1)[-1]
    page.evaluate(_WATCH, code)
    # And every read of the activation failing from now on, so only the socket can bring the code (a poll, or the
    # read a push starts, would otherwise fetch it too)
    page.route(re.compile(rf"/v1/activations/{activation_id}$"), lambda route: route.abort())
    # When the partner pushes the SMS to us
    pushed_at_ms = _deliver(stack, page, code)
    # Then the code shows, brought by the socket's frame
    expect(page.locator("#code")).to_contain_text(code, timeout=10_000)
    seen_at_ms = page.evaluate("window.codeSeenAt")
    assert {"type": "activation", "activation_id": int(activation_id), "status": "RECEIVED", "code": code} in frames
    # And soon: a push, not a poll (the figure against the 1 s goal goes to docs/benchmarks.md)
    print(f"\npush-to-screen: {seen_at_ms - pushed_at_ms:.0f} ms (partner push to the code on screen, by the socket)")
    assert seen_at_ms - pushed_at_ms <= PUSH_BOUND_MS


def test_activation_page__without_a_socket_polling_still_shows_the_code(desktop: Page, stack: Stack,
                                                                       sms_held_back: None) -> None:
    # Given a user looking at their number while the live socket cannot be opened (every attempt closed at once)
    page, code = desktop, "26408"
    attempts: list[str] = []

    def refuse(socket: WebSocketRoute) -> None:
        attempts.append(socket.url)
        socket.close(code=1011, reason="unavailable")

    page.route_web_socket(re.compile(r"^ws://127\.0\.0\.1:\d+/local$"), refuse)
    frames: list[str] = []
    page.on("websocket", lambda socket: _record(socket, frames))
    number_on_screen(page, stack.app_url, stack.stripe_url, stack.outbox, "nolive")
    # When the partner pushes the SMS to us
    _deliver(stack, page, code)
    # Then the page, polling, shows the code all the same (its socket was tried and never became ready)
    expect(page.locator("#code")).to_contain_text(code, timeout=10_000)
    assert attempts and not any(code in frame for frame in frames)
    expect(page.locator("html")).not_to_have_attribute("data-live", "on")


def _record(socket: WebSocket, frames: list[str]) -> None:
    socket.on("framereceived", lambda frame: frames.append(str(frame)))
