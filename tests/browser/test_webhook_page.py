"""The Webhook page in headless Chromium: choosing events, the delivery log, and redelivering from it."""
from __future__ import annotations

from collections.abc import Iterator

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
from tests.support import wait_until
from tests.webhook_receiver import Receiver, receiving

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with receiving(Receiver()) as found:
        yield found


def test_webhook_page__lists_deliveries_and_redelivers_one(desktop: Page, stack: Stack, stack_settings: Settings,
                                                           receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    # Given a user whose webhook takes balance changes, and whose balance just changed (the event delivered)
    user = verified_user(stack.app_url, stack.outbox, "hooklog")
    saved = api(stack.app_url, "PUT", "/v1/webhook", user.token, json={"url": url, "events": ["balance.changed"]})
    assert saved.status_code == 200, saved.text
    account_id = api(stack.app_url, "GET", "/v1/me", user.token).json()["account_id"]
    Wallet(SystemClock(), DynamoMoneyStore()).post(account_id, 500, LedgerKind.ADJUSTMENT, new_id("test"),
                                                   memo="opening")
    assert wait_until(lambda: len(hook.delivered()) == 1, seconds=20)
    page = desktop
    sign_in_page(page, user)
    # When they open the Webhook page
    open_route(page, stack.app_url, "/webhook")
    # Then their choice of events is ticked and the log shows the delivered event
    expect(page.get_by_role("checkbox", name="The balance changed")).to_be_checked()
    expect(page.get_by_role("checkbox", name="An SMS arrived")).not_to_be_checked()
    rows = page.locator("#delivery-log tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("[data-delivery-status]")).to_have_attribute("data-delivery-status", "delivered")
    expect(rows.first).to_contain_text("balance.changed")
    expect(rows.first).to_contain_text("HTTP 200")
    # When they redeliver it
    rows.first.get_by_role("button", name="Redeliver balance.changed").click()
    # Then the receiver gets the same event again and the log lists the new delivery above the first
    assert wait_until(lambda: len(hook.delivered()) == 2, seconds=20)
    first, again = (r.event for r in hook.delivered())
    assert (again["event_id"], again["delivery_id"] != first["delivery_id"]) == (first["event_id"], True)
    expect(rows).to_have_count(2)
    assert wait_until(lambda: api(stack.app_url, "GET", "/v1/webhook/deliveries", user.token).json()["items"][0][
        "status"] == "delivered", seconds=20)  # the receiver answered; the job settles the delivery right after
    page.get_by_role("button", name="Refresh").click()
    expect(rows.first.locator("[data-delivery-status]")).to_have_attribute("data-delivery-status", "delivered")
    # When they also tick status changes and save
    page.get_by_role("checkbox", name="A number changed status").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Webhook saved.")).to_be_visible()
    # Then the webhook takes both
    assert api(stack.app_url, "GET", "/v1/webhook", user.token).json()["events"] == [
        "activation.status_changed", "balance.changed"]
