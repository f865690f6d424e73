"""The refund page in a real browser: before a request is sent it shows what each card gets back and the card fees
kept (6.3), as Stripe reported them."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.browser.helpers import Shot, open_route, sign_in_page, top_up, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_refund_page__shows_what_comes_back_and_the_card_fees_before_asking(desktop: Page, stack: Stack,
                                                                           shot: Shot) -> None:
    # Given a user who topped up 20.00 by card
    user = verified_user(stack.app_url, stack.outbox, "preview")
    top_up(stack.app_url, stack.stripe_url, user, 2000)
    sign_in_page(desktop, user)
    # When they open the refund page
    open_route(desktop, stack.app_url, "/refund")
    # Then before sending anything they see 19.12 back to the card and the 0.88 Stripe kept, named as Stripe's
    preview = desktop.locator("#refund-preview")
    expect(preview.locator("#preview-refund")).to_have_text("$19.12")
    expect(preview.locator("#preview-card-fees")).to_have_text("$0.88")
    expect(preview.get_by_role("listitem")).to_have_text([
        re.compile(r"^pi_\w+: \$19\.12 back, \$0\.88 card fee kept \(as Stripe reported it\)$")])
    shot(desktop, "refund-preview")
    # And the request they then send holds the whole 20.00 while it is reviewed
    desktop.get_by_label("Reason").fill("Leaving the service")
    desktop.get_by_role("button", name="Send the request").click()
    expect(desktop.get_by_text("is pending")).to_be_visible()
