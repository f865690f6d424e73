"""The Rentals page in headless Chromium: rent a number for a day, watch each SMS arrive, extend, finish, cancel."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from chalicelib.domain.clock import SystemClock
from chalicelib.services.accounts.sessions import Credentials
from infra.local.stack import Stack
from tests.browser.helpers import Shot, User, open_route, sign_in_page
from tests.support import customer_with_key

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _renter(page: Page, stack_settings, balance_cents: int) -> User:
    """A signed-in user holding `balance_cents` (the page's session put in the tab as the sign-in form does)."""
    customer = customer_with_key(stack_settings, balance_cents)
    token = Credentials(SystemClock(), stack_settings.session_ttl_seconds).issue_session(customer.account_id).token
    user = User(email=customer.email, token=token)
    sign_in_page(page, user)
    return user


def _deliver(stack: Stack, phone: str, text: str) -> None:
    requests.post(f"{stack.simulator_url}/_sim/deliver", json={"phone": phone, "text": text},
                  timeout=5).raise_for_status()


def test_rentals__rent_a_day_see_each_sms_arrive_extend_and_finish(desktop: Page, stack: Stack, stack_settings,
                                                                   shot: Shot, sms_held_back: None) -> None:
    page = desktop
    _renter(page, stack_settings, 2000)
    # Given the Rentals page, Telegram in Russia for a day, priced
    open_route(page, stack.app_url, "/rentals")
    page.get_by_label("Service").select_option("tg")
    page.get_by_label("Country").select_option("0")
    page.get_by_label("For").select_option("24")
    expect(page.locator("#rent-price")).to_have_text(re.compile(r"^Price: \$\d+\.\d\d$"))
    expect(page.locator("#rent-terms")).to_contain_text("Canceled within 20 minutes and before any SMS")
    shot(page, "rentals")
    # When they rent it, and two SMS come to the number a moment apart
    page.get_by_role("button", name="Rent", exact=True).click()
    expect(page.locator("#phone")).to_have_text(re.compile(r"^\+\d+$"))
    phone = page.locator("#phone").inner_text().lstrip("+")
    _deliver(stack, phone, "Your Telegram code is 11111")
    expect(page.locator("#rental-sms li.sms")).to_have_count(1)
    _deliver(stack, phone, "Your Telegram code is 22222")
    # Then each shows up without reloading, newest first, with its code
    expect(page.locator("#rental-sms li.sms")).to_have_count(2)
    expect(page.locator("#rental-sms li.sms").first).to_contain_text("22222")
    expect(page.locator("#rental-sms li.sms").nth(1)).to_contain_text("code 11111")
    expect(page.get_by_role("button", name="Cancel (full refund)")).to_be_hidden()  # an SMS came: final
    shot(page, "rental-sms")
    # When they extend it by a day, then finish it
    page.get_by_label("Extend by").select_option("24")
    page.get_by_role("button", name="Extend", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Extend", exact=True).click()
    expect(page.locator(".status-line")).to_contain_text("48 hours")
    page.get_by_role("button", name="Finish", exact=True).click()
    page.get_by_role("button", name="Finish the rental").click()
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "FINISHED")
    # Then the list shows it finished with its two SMS
    open_route(page, stack.app_url, "/rentals")
    row = page.locator("table tbody tr").first
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "FINISHED")
    expect(row.locator("td.num").first).to_have_text("2")


def test_rentals__cancel_in_the_first_minutes_refunds_everything(desktop: Page, stack: Stack, stack_settings,
                                                                 sms_held_back: None) -> None:
    page = desktop
    _renter(page, stack_settings, 2000)
    open_route(page, stack.app_url, "/rentals")
    expect(page.locator("#rent-price")).to_have_text(re.compile(r"^Price: "))
    page.get_by_role("button", name="Rent", exact=True).click()
    expect(page.locator("#phone")).to_have_text(re.compile(r"^\+\d+$"))
    page.get_by_role("button", name="Cancel (full refund)").click()
    page.get_by_role("button", name="Cancel the rental").click()
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "CANCELED")
    expect(page.locator("#balance")).to_contain_text("$20.00")
