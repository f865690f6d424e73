"""The small things people trip over on the dashboard: menu, form errors in words, focus ring, voice names, toasts."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.money.refund_requests import RefundDecision
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.wiring import build_refund_requests
from infra.local.stack import Stack
from tests.browser.helpers import (
    PASSWORD,
    User,
    api,
    new_email,
    number_on_screen,
    open_route,
    sign_in_page,
    top_up,
    verified_user,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def customer(stack: Stack) -> User:
    user = verified_user(stack.app_url, stack.outbox, "details")
    top_up(stack.app_url, stack.stripe_url, user, 1000)
    return user


def test_signed_in_menu__offers_prices_and_refund(desktop: Page, stack: Stack, customer: User) -> None:
    # Given a signed-in customer
    sign_in_page(desktop, customer)
    open_route(desktop, stack.app_url, "/dashboard")
    # Then the menu leads to the prices and to a refund request as well
    nav = desktop.locator("#nav")
    expect(nav.get_by_role("link", name="Prices", exact=True)).to_be_visible()
    nav.get_by_role("link", name="Refund", exact=True).click()
    expect(desktop.locator("main")).to_have_attribute("data-ready", "/refund")


def test_support_form__names_every_empty_field_in_words_at_once(desktop: Page, stack: Stack,
                                                                customer: User) -> None:
    sign_in_page(desktop, customer)
    open_route(desktop, stack.app_url, "/support")
    # When the new-ticket form is sent empty
    desktop.get_by_role("button", name="Send", exact=True).click()
    # Then both fields say what is missing, by their labels, not by the API's field names
    form = desktop.get_by_role("form", name="New ticket")
    expect(form.locator("[data-error-for=subject]")).to_have_text("Subject is required.")
    expect(form.locator("[data-error-for=message]")).to_have_text("Message is required.")
    expect(form.get_by_label("Subject")).to_be_focused()
    assert "'" not in form.inner_text()
    # And nothing was sent
    assert api(stack.app_url, "GET", "/v1/support/tickets", customer.token).json()["items"] == []


def test_focus_ring__contrasts_3_to_1_and_survives_forced_colours(desktop: Page, stack: Stack) -> None:
    open_route(desktop, stack.app_url, "/login")
    # When the keyboard moves focus to the email field
    desktop.get_by_label("Email").focus()
    desktop.keyboard.press("Shift+Tab")
    desktop.keyboard.press("Tab")
    ring = desktop.evaluate("""() => {
        const s = getComputedStyle(document.activeElement);
        return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
                page: getComputedStyle(document.body).backgroundColor};
    }""")
    # Then an outline (kept in forced-colours mode, unlike a shadow) at least 2 px wide shows with 3:1 contrast
    assert ring["style"] == "solid" and ring["width"] >= 2, ring
    assert _contrast(ring["color"], ring["page"]) >= 3, ring


def test_buy_buttons__accessible_name_begins_with_the_visible_text(desktop: Page, stack: Stack,
                                                                  customer: User) -> None:
    sign_in_page(desktop, customer)
    open_route(desktop, stack.app_url, "/buy?service=tg")
    buttons = desktop.locator("#country-offers button.primary")
    expect(buttons.first).to_be_visible()
    for button in buttons.all()[:5]:
        visible = button.inner_text().strip()
        assert (button.get_attribute("aria-label") or visible).startswith(visible), visible
    open_route(desktop, stack.app_url, "/prices")
    link = desktop.locator("table.prices a.button").first
    assert (link.get_attribute("aria-label") or "").startswith(link.inner_text().strip())


def test_try_it_box__scrolls_with_the_keyboard(desktop: Page, stack: Stack, customer: User) -> None:
    sign_in_page(desktop, customer)
    open_route(desktop, stack.app_url, "/api-keys")
    desktop.get_by_label("Name (optional)").fill("scroll test")
    desktop.get_by_role("button", name="Create an API key").click()
    box = desktop.get_by_role("region", name="Try it")
    expect(box).to_be_visible()
    assert box.evaluate("el => el.scrollWidth > el.clientWidth"), "the commands fit: nothing to scroll"
    # When the keyboard reaches the box and presses the right arrow
    box.focus()
    expect(box).to_be_focused()
    desktop.keyboard.press("ArrowRight")
    # Then the box scrolls along its lines
    desktop.wait_for_function("el => el.scrollLeft > 0", arg=box.element_handle())


def test_new_sms_toast__names_the_number(desktop: Page, stack: Stack) -> None:
    # Given a number on screen, waiting for its SMS
    number_on_screen(desktop, stack.app_url, stack.stripe_url, stack.outbox, "toast")
    phone = desktop.locator("#phone").inner_text()
    # When the SMS arrives, Then the toast says on which number
    expect(desktop.locator("#toasts")).to_contain_text(f"A new SMS has arrived on {phone}.", timeout=20_000)


def test_unverified_buy__says_what_to_do_once(desktop: Page, stack: Stack) -> None:
    # Given someone registered who has not opened the verification email yet
    address = new_email("unverified")
    version = api(stack.app_url, "GET", "/v1/agreement").json()["version"]
    api(stack.app_url, "POST", "/v1/auth/register",
        json={"email": address, "password": PASSWORD, "agreement_version": version}).raise_for_status()
    token = api(stack.app_url, "POST", "/v1/auth/login", json={"email": address, "password": PASSWORD}).json()["token"]
    sign_in_page(desktop, User(email=address, token=token))
    open_route(desktop, stack.app_url, "/buy?service=tg")
    # When they try to buy
    desktop.locator("#country-offers button.primary:not([disabled])").first.click()
    # Then the message asks them to confirm their email, in one sentence that is not repeated
    error = desktop.locator("main .notice.error")
    expect(error).to_contain_text("Confirm your email address first")
    text = error.inner_text()
    assert text.count("link") == 1, text


def test_sign_in_after_closing_the_account__explains_closed_accounts(desktop: Page, stack: Stack) -> None:
    # Given a customer who withdrew consent and closed their account
    user = verified_user(stack.app_url, stack.outbox, "closed")
    api(stack.app_url, "POST", "/v1/account/withdraw-consent", user.token).raise_for_status()
    # When they try to sign in again
    open_route(desktop, stack.app_url, "/login")
    desktop.get_by_label("Email").fill(user.email)
    desktop.get_by_label("Password").fill(PASSWORD)
    desktop.get_by_role("button", name="Sign in").click()
    # Then they read why, without the page telling strangers which emails had accounts
    expect(desktop.get_by_role("alert")).to_contain_text("An account that was closed can no longer sign in.")


def _contrast(first: str, second: str) -> float:
    def luminance(css: str) -> float:
        r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
        channels = [c / 255 for c in (r, g, b)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted([luminance(first), luminance(second)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def _catalog_loaded(stack: Stack) -> None:
    """Wait for the first catalog refresh of a freshly started stack (the price list shows what it has)."""
    deadline = time.monotonic() + 30
    while not api(stack.app_url, "GET", "/v1/catalog").json()["items"]:
        assert time.monotonic() < deadline, "the catalog stayed empty for 30 s"
        time.sleep(0.5)


def test_price_list__sorts_by_price_and_puts_favourites_first(desktop: Page, stack: Stack) -> None:
    _catalog_loaded(stack)
    open_route(desktop, stack.app_url, "/prices")
    rows = desktop.locator("table.prices tbody tr")
    expect(rows.first).to_be_visible()
    # When the list is ordered by price
    desktop.get_by_label("Order").select_option("price")
    # Then prices never go down the list
    prices = [_cents(t) for t in desktop.locator("table.prices tbody td:nth-child(3)").all_inner_texts()]
    assert prices == sorted(prices) and len(prices) > 1, prices
    # When a service further down is starred
    last = rows.last.locator("button.star")
    service = last.get_attribute("data-favourite")
    last.click()
    # Then it comes first, stays starred after a reload, and "Only my favourites" shows only it
    expect(rows.first.locator("button.star")).to_have_attribute("data-favourite", service or "")
    desktop.reload()
    expect(desktop.locator("main")).to_have_attribute("data-ready", "/prices")
    expect(rows.first.locator("button.star")).to_have_attribute("aria-pressed", "true")
    desktop.get_by_label(re.compile("Only my favourites")).check()
    assert set(desktop.locator("table.prices button.star").evaluate_all(
        "els => els.map(e => e.dataset.favourite)")) == {service}


def test_price_list__fits_a_phone_in_a_few_screens_and_shows_more_on_request(phone: Page, stack: Stack) -> None:
    _catalog_loaded(stack)
    open_route(phone, stack.app_url, "/prices")
    expect(phone.locator("table.prices tbody tr").first).to_be_visible()
    # Then the first screenful of prices is short (it was ~5,300 px at 375 px wide)
    assert phone.evaluate("document.documentElement.scrollHeight") < 3500
    before = phone.locator("table.prices tbody tr").count()
    # When more are asked for, Then more rows show
    phone.get_by_role("button", name="Show more").click()
    expect(phone.locator("table.prices tbody tr")).not_to_have_count(before)


def test_buy__an_operator_chosen_in_the_form_is_the_numbers_operator(desktop: Page, stack: Stack,
                                                                   customer: User) -> None:
    # Given an offer whose partners name operators
    offer = next(o for o in api(stack.app_url, "GET", "/v1/catalog").json()["items"]
                 if o["operators"] and o["available"] > 0)
    operator = offer["operators"][-1]
    sign_in_page(desktop, customer)
    open_route(desktop, stack.app_url, f"/buy?service={offer['service']}")
    row = desktop.locator("#country-offers tr", has=desktop.locator(f"button[data-country='{offer['country']}']"))
    # When the customer picks that operator and buys
    row.get_by_role("combobox").select_option(operator)
    row.locator("button.primary").click()
    expect(desktop.locator("#phone")).to_have_text(re.compile(r"^\+\d+$"))
    # Then the number is of that operator
    activation_id = desktop.url.rsplit("/", 1)[1]
    assert api(stack.app_url, "GET", f"/v1/activations/{activation_id}", customer.token).json()["operator"] == operator


def _cents(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def test_after_an_approved_refund__payments_name_the_card_and_the_refund_page_asks_nothing(
        desktop: Page, stack: Stack, stack_settings: Settings) -> None:
    # Given a customer who topped up $10.00 with the 4242 card and whose refund request was approved
    user = verified_user(stack.app_url, stack.outbox, "refunded")
    top_up(stack.app_url, stack.stripe_url, user, 1000)
    request = api(stack.app_url, "POST", "/v1/refund-requests", user.token, json={"reason": "Leaving"})
    request.raise_for_status()
    gateway = StripeGateway(stack_settings.stripe_secret_key, stack_settings.stripe_api_base,
                            stack_settings.stripe_webhook_secret)
    build_refund_requests(gateway, Wallet(SystemClock(), DynamoMoneyStore()), stack_settings).decide(
        request.json()["request_id"], RefundDecision.APPROVE, "ok", "admin@example.com")
    sign_in_page(desktop, user)
    # When they open their payments
    open_route(desktop, stack.app_url, "/payments")
    # Then the top-up names the card, and the refund to the card says it was sent
    top_up_row = desktop.locator("tbody tr", has=desktop.get_by_text("Card top-up", exact=True))
    expect(top_up_row.locator("td[data-label=Card]")).to_have_text("Visa •••• 4242")
    payout = desktop.locator("tbody tr", has=desktop.get_by_text("Refund to card", exact=True)).first
    expect(payout.locator("td[data-label=Status]")).to_have_text("Sent to your card")
    expect(payout.locator("td[data-label=Card]")).to_have_text("Visa •••• 4242")
    # And the refund page offers no request for $0.00
    open_route(desktop, stack.app_url, "/refund")
    expect(desktop.locator("main")).to_contain_text("there is nothing to refund")
    expect(desktop.get_by_role("button", name="Send the request")).to_have_count(0)
