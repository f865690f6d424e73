"""Two-factor sign-in and API key scopes as a person uses them in the dashboard (headless Debian Chromium)."""
from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.browser.helpers import PASSWORD, Shot, api, open_route, sign_in_page, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_two_factor__turned_on_in_the_account_page_then_sign_in_asks_for_the_code(desktop: Page, phone: Page,
                                                                                  stack: Stack, shot: Shot) -> None:
    # Given a signed-in user on the Account page
    user = verified_user(stack.app_url, stack.outbox, "twofactor")
    sign_in_page(desktop, user)
    open_route(desktop, stack.app_url, "/account")
    section = desktop.locator("#two-factor")

    # When they turn two-factor sign-in on, typing the key into "their app" and its current code into the page
    section.get_by_role("button", name="Turn on two-factor sign-in").click()
    secret = section.locator("#totp-secret").inner_text()
    expect(section.locator("#otpauth-link")).to_have_attribute("href", pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name="SMS Rooms"))
    section.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    section.get_by_label("Your password").fill(PASSWORD)
    section.get_by_role("button", name="Turn it on").click()

    # Then ten recovery codes are shown once, and the section says it is on
    expect(section.locator("#recovery-codes li")).to_have_count(10)
    shot(desktop, "two-factor-recovery-codes")
    section.get_by_role("button", name="I saved them").click()
    expect(section.locator("#two-factor-status")).to_contain_text("On 10 recovery codes left.")
    expect(section.locator("#recovery-codes")).to_have_count(0)

    # When they sign in on their phone with the password
    phone.goto(f"{stack.app_url}/#/login")
    phone.get_by_label("Email").fill(user.email)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    # Then the page asks for the code, refuses a wrong one, and signs them in with the app's next code
    step = phone.locator("#mfa-step")
    expect(step).to_be_visible()
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    step.get_by_label("Code").fill(wrong)
    step.get_by_role("button", name="Verify and sign in").click()
    expect(step.locator(".form-alert")).to_contain_text("The code is not right")
    shot(phone, "two-factor-sign-in")
    step.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))  # the enabling code's step is spent
    step.get_by_role("button", name="Verify and sign in").click()
    expect(phone.locator("main")).to_have_attribute("data-ready", "/dashboard")


def test_api_keys__scopes_are_chosen_at_creation_and_listed(desktop: Page, stack: Stack, shot: Shot) -> None:
    # Given a signed-in user on the API keys page, where a new key is for orders unless they choose
    user = verified_user(stack.app_url, stack.outbox, "scopes")
    sign_in_page(desktop, user)
    open_route(desktop, stack.app_url, "/api-keys")
    expect(desktop.get_by_label("Orders", exact=False)).to_be_checked()

    # When they make a read-only key for a monitoring script
    desktop.get_by_label("Name (optional)").fill("monitor")
    desktop.get_by_label("Orders", exact=False).uncheck()
    desktop.get_by_label("Read only", exact=False).check()
    desktop.get_by_role("button", name="Create an API key").click()
    key = desktop.locator("#new-api-key").input_value()

    # Then the list shows the key with its one scope, and the key reads but may not order
    row = desktop.locator("tr", has_text="monitor")
    expect(row.locator(".badge")).to_have_text(["read"])
    shot(desktop, "api-key-scopes")
    assert api(stack.app_url, "GET", "/v1/me", key).status_code == 200
    order = api(stack.app_url, "POST", "/v1/activations", key, json={"service": "tg", "country": 0})
    assert (order.status_code, order.json()["error"]["code"]) == (403, "SCOPE_REQUIRED")
