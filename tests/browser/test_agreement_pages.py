"""A published agreement version in a real browser: the banner from publication, the version's page with headings
and what changed, accepting it, and declining it by closing the account in two clicks (13.1–13.3, 12.3)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.agreement_support import published, utc_day
from tests.browser.helpers import PASSWORD, Shot, api, open_route, sign_in_page, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def version_2(stack: Stack) -> Iterator[dict[str, Any]]:
    """Version 2 published to take effect tomorrow, for this module's tests only."""
    with published(stack, effective=utc_day(1)) as version:
        yield version


def test_agreement__banner_from_publication_leads_to_the_changes_and_accepting(desktop: Page, stack: Stack,
                                                                               version_2, shot: Shot) -> None:
    # Given a signed-in user who accepted version 1, after version 2 was published
    user = verified_user(stack.app_url, stack.outbox, "banner")
    sign_in_page(desktop, user)
    open_route(desktop, stack.app_url, "/dashboard")
    # Then every page shows the banner naming the version and its day
    banner = desktop.locator("#agreement-banner")
    expect(banner).to_contain_text(f"Version 2 of the user agreement takes effect on {version_2['effective_on']}")
    # When they read what changes
    banner.get_by_role("link", name="Read what changes").click()
    expect(desktop.locator("main")).to_have_attribute("data-ready", "/agreement/2")
    # Then the version shows as headings and paragraphs, with what changed since version 1 marked
    changes = desktop.locator("#agreement-changes")
    expect(changes.get_by_role("heading")).to_have_text("What changed since version 1")
    expect(changes.locator("del")).to_contain_text("Any fees related to deposit or withdrawal are non-refundable.")
    expect(changes.locator("ins").first).to_contain_text("card processing fee of each refunded deposit")
    text = desktop.locator("#agreement-text")
    expect(text.get_by_role("heading", name="Pricing, Payment, and Refunds")).to_be_visible()
    expect(text.locator("pre")).to_have_count(0)
    shot(desktop, "agreement-version-2")
    # When they accept it
    banner.get_by_role("button", name="Accept version 2").click()
    # Then the banner is gone and the account holds version 2
    expect(desktop.get_by_text("you accepted version 2")).to_be_visible()
    expect(banner).to_be_hidden()
    assert api(stack.app_url, "GET", "/v1/me", user.token).json()["agreement_version"] == "2"


def test_agreement__declining_closes_the_account_in_two_clicks(desktop: Page, stack: Stack, version_2) -> None:
    # Given a signed-in user who does not accept version 2
    user = verified_user(stack.app_url, stack.outbox, "decline")
    sign_in_page(desktop, user)
    open_route(desktop, stack.app_url, "/dashboard")
    # When they decline on the banner (one) and confirm (two)
    desktop.locator("#agreement-banner").get_by_role("button", name="Decline and close my account").click()
    dialog = desktop.get_by_role("dialog")
    expect(dialog).to_contain_text("Decline version 2 and close your account?")
    dialog.get_by_role("button", name="Close my account").click()
    # Then they are signed out with the account closed, and it cannot sign in again
    expect(desktop.locator("main")).to_have_attribute("data-ready", re.compile(r"^/login"))
    login = api(stack.app_url, "POST", "/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 401


def test_agreement__the_bundled_version_reads_as_headings_without_the_page_artefact(desktop: Page,
                                                                                   stack: Stack) -> None:
    # When anyone opens version 1
    open_route(desktop, stack.app_url, "/agreement/1")
    # Then its sections are headings and its clauses paragraphs, with no "HomeUser Agreement" left from a web page
    text = desktop.locator("#agreement-text")
    expect(text.get_by_role("heading", level=2)).to_have_text("SMS Rooms — Virtual Numbers for SMS Verification")
    expect(text.get_by_role("heading", name="Amendments to the Agreement")).to_be_visible()
    expect(text.get_by_text(re.compile(r"^13\.3\. Continued use"))).to_be_visible()
    expect(text).not_to_contain_text("HomeUser")
