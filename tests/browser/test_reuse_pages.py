"""Reuse on the dashboard, in headless Chromium against the local stack: "Get another code on this number" in the
history, and several numbers in one order on the Buy page."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from infra.local.stack import Stack
from tests.browser.helpers import api, balance, open_route, sign_in_page, verified_user
from tests.support import deliver_sms, eventually, priced_settings

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_history__get_another_code_on_a_finished_number_shows_the_price_and_opens_the_new_number(
        desktop: Page, stack: Stack, stack_settings: Settings) -> None:
    # Given a user with $5.00 whose Telegram number got its code and was finished
    priced_settings(stack)
    user = verified_user(stack.app_url, stack.outbox, "again")
    account_id = api(stack.app_url, "GET", "/v1/me", user.token).json()["account_id"]
    Wallet(SystemClock(), DynamoMoneyStore()).post(account_id, 500, LedgerKind.ADJUSTMENT, new_id("test"))
    first = api(stack.app_url, "POST", "/v1/activations", user.token, json={"service": "tg", "country": 0}).json()
    deliver_sms(stack, first["phone"], "Telegram code 24680. Do not share it.")
    eventually(lambda: api(stack.app_url, "GET", f"/v1/activations/{first['id']}", user.token).json(),
               lambda a: a["status"] == "RECEIVED")
    api(stack.app_url, "POST", f"/v1/activations/{first['id']}/finish", user.token).raise_for_status()
    price = api(stack.app_url, "GET", f"/v1/activations/{first['id']}/reactivation", user.token).json()["price_cents"]
    before = balance(stack.app_url, user)
    page = desktop
    sign_in_page(page, user)
    # When they open their numbers and choose "Get another code on this number"
    open_route(page, stack.app_url, "/history")
    page.get_by_role("button", name=re.compile(r"^Get another code on this number")).click()
    # Then a dialog tells the price before anything is charged
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"${price / 100:.2f}")
    assert balance(stack.app_url, user) == before
    # And paying opens the new number's page on the same number, charged that price once
    dialog.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page).to_have_url(re.compile(r"#/activation/\d+$"))
    assert not page.url.endswith(f"/{first['id']}")
    expect(page.locator("#phone")).to_have_text(f"+{first['phone']}")
    assert balance(stack.app_url, user) == before - price


def test_buy__a_quantity_orders_several_numbers_charged_together(desktop: Page, stack: Stack,
                                                                 stack_settings: Settings) -> None:
    # Given a user with $5.00 on the Buy page for Telegram
    priced_settings(stack)
    user = verified_user(stack.app_url, stack.outbox, "bulk")
    account_id = api(stack.app_url, "GET", "/v1/me", user.token).json()["account_id"]
    Wallet(SystemClock(), DynamoMoneyStore()).post(account_id, 500, LedgerKind.ADJUSTMENT, new_id("test"))
    page = desktop
    sign_in_page(page, user)
    open_route(page, stack.app_url, "/buy?service=tg")
    # When they ask for 3 numbers and buy in the first country in stock
    page.get_by_label("How many numbers").fill("3")
    button = page.locator("#country-offers button.primary:not([disabled])").first
    expect(button).to_have_text(re.compile(r"^Buy 3 × \$\d+\.\d\d$"))
    each = int(re.sub(r"\D", "", button.inner_text().split("×")[1]))
    button.click()
    # Then their numbers page lists three new numbers, charged three times the price
    expect(page).to_have_url(re.compile(r"#/history$"))
    expect(page.locator("main tbody tr")).to_have_count(3)
    assert balance(stack.app_url, user) == 500 - 3 * each
