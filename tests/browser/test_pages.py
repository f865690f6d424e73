"""Every dashboard page at desktop and phone width, errors beside their field, keyboard use, and the banners."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from infra.local.stack import ROOT, Stack
from tests.browser.helpers import (
    PASSWORD,
    PUBLIC_ROUTES,
    SESSION_KEY,
    SIGNED_IN_ROUTES,
    Shot,
    User,
    api,
    customer_with_history,
    new_email,
    open_route,
    sign_in_page,
    top_up,
    verified_user,
)
from tests.support import deliver_sms, eventually, sms_only_on_demand

pytestmark = [pytest.mark.browser, pytest.mark.integration]



@pytest.fixture(scope="module")
def customer(stack: Stack) -> User:
    """A user with history on every page: a top-up, a number, an API key, a webhook and a support ticket."""
    return customer_with_history(stack.app_url, stack.stripe_url, stack.outbox, "tour")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_every_page__renders_without_sideways_scrolling(viewport: str, request: pytest.FixtureRequest,
                                                        stack: Stack, customer: User, shot: Shot) -> None:
    page: Page = request.getfixturevalue(viewport)
    width = page.viewport_size["width"] if page.viewport_size else 0
    # Given a visitor, then the same tab signed in as a customer with some history
    for signed_in, routes in [(False, PUBLIC_ROUTES), (True, SIGNED_IN_ROUTES)]:
        if signed_in:
            page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [SESSION_KEY, customer.token])
        for route in routes:
            # When they open the page
            open_route(page, stack.app_url, route)
            # Then it has rendered, shows no error, and fits the screen's width
            assert page.locator("main .notice.error").count() == 0, f"{route}: {page.locator('main').inner_text()}"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{route} scrolls sideways"
            shot(page, _shot_name(route))
    activation_id = api(stack.app_url, "GET", "/v1/activations", customer.token).json()["items"][0]["id"]
    open_route(page, stack.app_url, f"/activation/{activation_id}")
    expect(page.locator("#phone")).to_have_text(re.compile(r"^\+1\d{10}$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, "activation")


@pytest.fixture(scope="module")
def long_worded(stack: Stack) -> User:
    """A user whose every value is as long as the API takes, in one word: what people and bots type is not prose."""
    user = verified_user(stack.app_url, stack.outbox, "x" * 50)  # a 61-character local part
    for method, path, body in [
        ("POST", "/v1/api-keys", {"label": "L" * 100}),
        ("PUT", "/v1/webhook", {"url": "https://bots.example.com/" + "a" * 400}),
        ("POST", "/v1/support/tickets", {"subject": "S" * 200, "message": "M" * 2000}),
    ]:
        api(stack.app_url, method, path, user.token, json=body).raise_for_status()
    return user


@pytest.fixture(scope="module")
def long_sms(stack: Stack) -> tuple[User, int]:
    """A user whose number received an SMS of one 600-character word: its sender, not we, decides what it says."""
    user = verified_user(stack.app_url, stack.outbox, "long-sms")
    top_up(stack.app_url, stack.stripe_url, user, 500)
    with sms_only_on_demand(stack):
        activation = api(stack.app_url, "POST", "/v1/activations", user.token,
                         json={"service": "tg", "country": 187}).json()
        deliver_sms(stack, activation["phone"], "Your code is 482913 " + "W" * 600)
        eventually(lambda: api(stack.app_url, "GET", f"/v1/activations/{activation['id']}", user.token).json(),
                   lambda shown: shown["status"] == "RECEIVED", seconds=30)
    return user, int(activation["id"])


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_activation_page__an_sms_of_one_long_word_fits_the_screen(viewport: str, request: pytest.FixtureRequest,
                                                                  stack: Stack, long_sms: tuple[User, int]) -> None:
    page: Page = request.getfixturevalue(viewport)
    width = page.viewport_size["width"] if page.viewport_size else 0
    user, activation_id = long_sms
    # Given a signed-in user whose number received an SMS of one very long word
    open_route(page, stack.app_url, "/login")
    page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [SESSION_KEY, user.token])
    # When they open the number's page
    open_route(page, stack.app_url, f"/activation/{activation_id}")
    expect(page.locator(".sms-text").first).to_contain_text("482913")
    # Then the SMS is shown whole and the page fits the screen's width
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_every_signed_in_page__fits_the_screen_with_the_longest_single_word_values(
        viewport: str, request: pytest.FixtureRequest, stack: Stack, long_worded: User) -> None:
    page: Page = request.getfixturevalue(viewport)
    width = page.viewport_size["width"] if page.viewport_size else 0
    # Given a signed-in user with a long email address, key name, webhook URL and ticket subject, each one word
    open_route(page, stack.app_url, "/login")
    page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [SESSION_KEY, long_worded.token])
    for route in SIGNED_IN_ROUTES:
        # When they open each page
        open_route(page, stack.app_url, route)
        # Then it fits the screen's width: the long words break instead of widening the page
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{route} scrolls sideways"


def _shot_name(route: str) -> str:
    path, _, query = route.strip("/").partition("?")
    return path + ("-" + query.split("=")[1] if query.startswith("service=") else "")


def test_register__errors_show_next_to_the_field_at_fault(desktop: Page, stack: Stack, shot: Shot) -> None:
    page = desktop
    open_route(page, stack.app_url, "/register")
    email_error = page.locator("[data-error-for=email]")
    password_error = page.locator("[data-error-for=password]")

    # When the agreement is not accepted, Then the checkbox says so
    page.get_by_label("Email").fill(new_email("errors"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("[data-error-for=accept]")).to_contain_text("accept the agreement")

    # When the email is malformed, Then the server's message sits under the email field, which gets focus
    page.get_by_label(re.compile("I have read and accept")).check()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Create account").click()
    expect(email_error).to_contain_text("not a valid email")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_be_focused()

    # When the password is too weak, Then the message moves to the password field
    page.get_by_label("Email").fill(new_email("errors"))
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(password_error).not_to_be_empty()
    expect(email_error).to_be_empty()
    shot(page, "register-errors")


def test_sign_in__works_with_the_keyboard_alone(desktop: Page, stack: Stack, customer: User) -> None:
    page = desktop
    open_route(page, stack.app_url, "/login")

    # When the user tabs to each field, types, and presses Enter
    page.get_by_label("Email").focus()
    page.keyboard.type(customer.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    # Then they land on the dashboard, its heading focused for screen readers
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_focused()


def test_menu__opens_and_closes_at_phone_width(phone: Page, stack: Stack, shot: Shot) -> None:
    page = phone
    open_route(page, stack.app_url, "/prices")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()

    # When the menu button is pressed, Then the links show; Escape closes them again
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Sign in")).to_be_visible()
    shot(page, "menu-open")
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(menu).to_be_focused()


MAINTENANCE_MESSAGE = "Back at 14:00 UTC: we are moving to a bigger database."


@pytest.fixture
def maintenance(stack: Stack) -> Iterator[Callable[[], None]]:
    """Switches maintenance on through the admin CLI when called; off again afterwards, past the 2 s cache."""
    yield lambda: _admin(stack, "maintenance", "on", "--message", MAINTENANCE_MESSAGE)
    _admin(stack, "maintenance", "off")
    _wait_for_api(stack, maintenance_on=False)


def _admin(stack: Stack, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "bin" / "admin"), *args], env=stack.env(), cwd=ROOT, check=True,
                   capture_output=True)


def _wait_for_api(stack: Stack, *, maintenance_on: bool) -> None:
    deadline = time.monotonic() + 10
    while (api(stack.app_url, "GET", "/v1/catalog").status_code == 503) != maintenance_on:
        assert time.monotonic() < deadline, f"maintenance still {'off' if maintenance_on else 'on'} after 10 s"
        time.sleep(0.2)


def test_maintenance__banner_shows_the_operators_message(desktop: Page, stack: Stack, shot: Shot,
                                                         maintenance: Callable[[], None]) -> None:
    page = desktop
    # Given the dashboard is open when the operator starts maintenance
    open_route(page, stack.app_url, "/prices")
    maintenance()
    _wait_for_api(stack, maintenance_on=True)

    # When the page next calls the API
    page.get_by_role("link", name="Agreement").first.click()

    # Then the operator's message shows as a banner
    expect(page.locator("#maintenance-banner")).to_contain_text(MAINTENANCE_MESSAGE)
    shot(page, "maintenance")


def test_agreement__update_banner_leads_to_accepting_it(desktop: Page, stack: Stack, customer: User) -> None:
    page = desktop
    sign_in_page(page, customer)

    # Given the server says the user has not accepted the current agreement yet
    outdated = [True]

    def me_reply(route: Route) -> None:
        if not outdated[0]:
            route.continue_()
            return
        me = route.fetch().json()
        route.fulfill(json={**me, "agreement_update_required": True, "agreement_version": "0", "agreement_pending": {
            "version": me["current_agreement_version"], "effective_on": None, "in_force": True}})

    page.route("**/v1/me", me_reply)
    open_route(page, stack.app_url, "/dashboard")
    banner = page.locator("#agreement-banner")
    expect(banner).to_be_visible()

    # When they follow the banner and accept
    banner.get_by_role("link", name="Read what changes").click()
    accept = page.get_by_role("button", name=re.compile(r"Accept version \d+"))
    expect(accept).to_be_visible()
    outdated[0] = False
    accept.click()

    # Then the server takes the acceptance, the page thanks them, and the banner is gone
    expect(page.get_by_text(re.compile("you accepted version"))).to_be_visible()
    expect(banner).to_be_hidden()


def test_money__cents_show_as_dollars_and_typed_amounts_read_back_exactly(desktop: Page, stack: Stack) -> None:
    # Given the dashboard's own formatting module, in the browser
    open_route(desktop, stack.app_url, "/prices")

    # When cents are shown and typed amounts are read back
    results = desktop.evaluate("""async () => {
        const ui = await import("/static/ui.js");
        const shown = [1234, -50, 0, 100000000, 7].map((cents) => ui.money(cents));
        const typed = ["10", "10.5", "$1,010.50", "0.07", "1.234", "ten"].map((text) => ui.parseAmount(text));
        return [shown, typed];
    }""")

    # Then both are exact, to the cent
    assert results == [["$12.34", "−$0.50", "$0.00", "$1,000,000.00", "$0.07"], [1000, 1050, 101050, 7, None, None]]


def test_api_key__shown_once_then_listed_by_name(desktop: Page, stack: Stack, customer: User) -> None:
    page = desktop
    sign_in_page(page, customer)
    open_route(page, stack.app_url, "/api-keys")

    # When the user names and creates a key
    page.get_by_label("Name (optional)").fill("price watcher")
    page.get_by_role("button", name="Create an API key").click()

    # Then the key is shown once, and it works against the API
    key = page.locator("#new-api-key").input_value()
    assert api(stack.app_url, "GET", "/v1/me", key).json()["email"] == customer.email

    # And after a reload only its name is listed, never the key again
    page.reload()
    expect(page.get_by_role("cell", name="price watcher")).to_be_visible()
    expect(page.locator("#new-api-key")).to_have_count(0)
    assert key not in page.content()
