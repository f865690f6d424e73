"""Support for everyone in the browser: from the sign-in page, signed out, to a ticket support can read."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.browser.helpers import Shot, new_email, open_route
from tests.integration.helpers_security import link_token

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_contact_support__signed_out_from_the_sign_in_page_to_an_open_ticket(desktop: Page, stack: Stack,
                                                                            shot: Shot) -> None:
    page = desktop
    address = new_email("contact")
    # Given someone on the sign-in page who cannot sign in
    open_route(page, stack.app_url, "/login")
    # When they follow "Contact support" and send the form, first with a mistyped address
    page.get_by_role("link", name="Contact support").click()
    expect(page.locator("main")).to_have_attribute("data-ready", "/contact")
    page.get_by_label("Your email").fill("ann at example.com")
    page.get_by_label("Subject").fill("Locked out")
    page.get_by_label("Message").fill("My phone was stolen and I cannot sign in.")
    page.get_by_role("button", name="Send").click()
    # Then the mistake is named beside the field
    expect(page.locator("[data-error-for=email]")).to_contain_text("not a valid email address")
    # When they correct it
    page.get_by_label("Your email").fill(address)
    shot(page, "contact")
    page.get_by_role("button", name="Send").click()
    # Then they are asked to confirm by email, and the link sends the message to support
    expect(page.get_by_text("Check your inbox")).to_be_visible()
    token = link_token(stack.outbox, address, "Confirm your message")
    page.goto(f"{stack.app_url}/#/contact/confirm?token={token}")
    expect(page.get_by_text("Your message is with support")).to_be_visible()
    shot(page, "contact-confirmed")
    # And the same link opened again says it is spent
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("not valid, was already used or has expired")
