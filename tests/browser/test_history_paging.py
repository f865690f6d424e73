"""The dashboard's histories page by cursor ("Show more") and filter, in headless Chromium."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from infra.local.stack import Stack
from tests.browser.helpers import api, open_route, sign_in_page, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_ledger_page__shows_more_and_filters_by_kind(desktop: Page, stack: Stack, stack_settings: Settings) -> None:
    # Given a user whose ledger holds 52 adjustments and one top-up, more than one page of 50
    user = verified_user(stack.app_url, stack.outbox, "paging")
    account_id = api(stack.app_url, "GET", "/v1/me", user.token).json()["account_id"]
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    wallet.post(account_id, 700, LedgerKind.TOP_UP, new_id("test"))
    for _ in range(52):
        wallet.post(account_id, 1, LedgerKind.ADJUSTMENT, new_id("test"))
    page = desktop
    sign_in_page(page, user)
    # When they open the ledger
    open_route(page, stack.app_url, "/ledger")
    rows = page.locator("main tbody tr")
    # Then the first page shows 50 entries, and "Show more" the rest
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="Show more").click()
    expect(rows).to_have_count(53)
    expect(page.get_by_role("button", name="Show more")).to_be_hidden()
    # And choosing top-ups lists only the top-up
    page.get_by_label("Show").select_option("top_up")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("[data-kind]")).to_have_attribute("data-kind", "top_up")
