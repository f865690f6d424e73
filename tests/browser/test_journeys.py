"""The dashboard's main journeys in headless Chromium: sign up to a code on screen, and a canceled number refunded."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from infra.local.localstripe_setup import TEST_CARD
from infra.local.stack import Stack
from tests.browser.helpers import (
    PASSWORD,
    Shot,
    new_email,
    number_on_screen,
    open_route,
    sign_in_page,
    top_up,
    verification_link,
    verified_user,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CODE_WAIT_MS = 15_000
THREE_D_SECURE_CARD = "4000002500003155"


def test_first_purchase__register_verify_top_up_buy_and_finish(desktop: Page, stack: Stack, shot: Shot) -> None:
    page = desktop
    address = new_email("journey")

    # Given a visitor who registers, accepting the agreement
    open_route(page, stack.app_url, "/register")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label(re.compile("I have read and accept")).check()
    shot(page, "register")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Check your inbox")).to_be_visible()

    # When they open the link of the verification email and sign in
    page.goto(verification_link(stack.outbox, address))
    expect(page.get_by_text("Your email is confirmed")).to_be_visible()
    shot(page, "verify")
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    shot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#dashboard-balance")).to_have_text("$0.00")

    # And top up $10 with the test card in Stripe's card element
    page.get_by_role("link", name="Top up").first.click()
    page.get_by_label("Amount (USD)").fill("10")
    _fill_test_card(page)
    shot(page, "topup")
    page.get_by_role("button", name="Pay $10.00").click()

    # Then the balance shows $10.00 once Stripe's webhook has credited it
    expect(page.get_by_text("$10.00 added")).to_be_visible(timeout=20_000)
    expect(page.locator("#balance")).to_contain_text("$10.00")
    shot(page, "topup-done")

    # When they buy a Telegram number
    page.get_by_role("link", name="Buy a number").first.click()
    page.get_by_role("button", name="Telegram", exact=True).click()
    shot(page, "buy")
    page.locator("#country-offers button.primary:not([disabled])").first.click()

    # Then the number shows at once and the code appears without a reload
    expect(page.locator("#phone")).to_have_text(re.compile(r"^\+\d{8,15}$"))
    shot(page, "activation-waiting")
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "RECEIVED",
                                                                         timeout=CODE_WAIT_MS)
    expect(page.locator("#code")).to_have_text(re.compile(r"^\d{4,8}$"))
    code = page.locator("#code").inner_text()
    shot(page, "activation-code")
    page.get_by_role("button", name="Copy the code").click()
    assert page.evaluate("navigator.clipboard.readText()") == code

    # And finishing it closes the activation, still charged (a code was delivered)
    page.get_by_role("button", name="Finish").click()
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "FINISHED")
    expect(page.locator("#balance")).not_to_contain_text("$10.00")


def test_cancel__refund_shows_in_history_and_ledger(desktop: Page, stack: Stack, shot: Shot,
                                                    sms_held_back: None) -> None:
    page = desktop
    # Given a signed-in user with $5.00 and a Telegram number with no SMS yet
    number_on_screen(page, stack.app_url, stack.stripe_url, stack.outbox, "cancel")

    # When the early-cancel countdown runs out and they cancel
    cancel = page.get_by_role("button", name="Cancel", exact=True)
    expect(page.locator("#cancel-timer")).to_have_text(re.compile(r"^(in \d+:\d\d|now)$"))
    expect(cancel).to_be_enabled(timeout=10_000)
    cancel.click()
    page.get_by_role("button", name="Cancel the number").click()

    # Then the activation ends canceled and refunded, and the balance is whole again
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "CANCELED")
    expect(page.get_by_text("its price was refunded")).to_be_visible()
    expect(page.locator("#balance")).to_contain_text("$5.00")
    shot(page, "activation-canceled")

    # And the history lists it canceled, the ledger shows the refund
    open_route(page, stack.app_url, "/history")
    expect(page.locator("tbody tr").first.locator("[data-status]")).to_have_attribute("data-status", "CANCELED")
    open_route(page, stack.app_url, "/ledger")
    refund_row = page.locator("tbody tr", has=page.locator("[data-kind=activation_refund]"))
    expect(refund_row).to_have_count(1)
    expect(refund_row.locator("td.num").first).to_contain_text("+$")
    shot(page, "ledger-after-refund")


def test_top_up__card_asking_for_3d_secure_is_authenticated_in_the_page(desktop: Page, stack: Stack) -> None:
    page = desktop
    # Given a signed-in user on the top-up page with a card that asks for 3-D Secure
    user = verified_user(stack.app_url, stack.outbox, "threeds")
    sign_in_page(page, user)
    open_route(page, stack.app_url, "/topup")
    page.get_by_role("button", name="$5.00").click()
    _fill_test_card(page, THREE_D_SECURE_CARD)

    # When they pay and complete authentication in the bank's window, at saving the card and at the charge
    page.get_by_role("button", name="Pay $5.00").click()
    page.get_by_role("button", name="Complete authentication").click()
    page.get_by_role("button", name="Complete authentication").click()

    # Then the balance is credited
    expect(page.get_by_text("$5.00 added")).to_be_visible(timeout=20_000)
    expect(page.locator("#balance")).to_contain_text("$5.00")


def test_top_up__saved_card_makes_the_next_one_a_single_click(desktop: Page, stack: Stack, shot: Shot) -> None:
    page = desktop
    # Given a user who topped up once with the test card
    user = verified_user(stack.app_url, stack.outbox, "saved")
    top_up(stack.app_url, stack.stripe_url, user, 500)
    sign_in_page(page, user)

    # When they pick an amount and pay with the card already selected
    open_route(page, stack.app_url, "/topup")
    expect(page.get_by_label(re.compile(r"Visa •••• 4242"))).to_be_checked()
    expect(page.locator("#card-element")).to_be_hidden()
    page.get_by_role("button", name="$10.00").click()
    shot(page, "topup-saved-card")
    page.get_by_role("button", name="Pay $10.00").click()

    # Then the balance grows by $10.00
    expect(page.get_by_text("$10.00 added")).to_be_visible(timeout=20_000)
    expect(page.locator("#balance")).to_contain_text("$15.00")


def _fill_test_card(page: Page, number: str = TEST_CARD) -> None:
    """Type a test card into the card element (localstripe's fake Stripe.js: one input a part)."""
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("30")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("10001")
