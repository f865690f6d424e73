"""What people tripped over on the money side of the dashboard (issue 18): held balance, report, top-up, tabs."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, Request, Route, expect

from infra.local.stack import Stack
from tests.browser.helpers import (
    PASSWORD,
    SESSION_KEY,
    api,
    balance,
    number_on_screen,
    open_route,
    sign_in_page,
    top_up,
    verified_user,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CODE_WAIT_MS = 15_000


def test_balance__a_sum_held_for_a_refund_request_is_never_shown_as_spendable(desktop: Page, stack: Stack) -> None:
    page = desktop
    # Given a user with $20.00 who asked for a refund (the whole balance is held while it is reviewed)
    user = verified_user(stack.app_url, stack.outbox, "held")
    top_up(stack.app_url, stack.stripe_url, user, 2000)
    api(stack.app_url, "POST", "/v1/refund-requests", user.token, json={"reason": "Leaving"}).raise_for_status()
    sign_in_page(page, user)

    # When they open the Buy page
    open_route(page, stack.app_url, "/buy?service=tg")
    # Then the header and the page say nothing can be spent and name the held sum apart
    expect(page.locator("#balance")).to_have_text(re.compile(r"\$0\.00 \+ \$20\.00 held"))
    expect(page.locator("#buy-balance")).to_contain_text("$0.00 available · $20.00 held for a refund request")

    # And a purchase refused for the balance says why the money there cannot be spent
    page.locator("#country-offers button.primary:not([disabled])").first.click()
    expect(page.get_by_text("$20.00 of it is held for your refund request")).to_be_visible()

    # And Account and the dashboard agree
    open_route(page, stack.app_url, "/account")
    expect(page.locator("#account-balance")).to_have_text("$0.00 available · $20.00 held for a refund request")
    open_route(page, stack.app_url, "/dashboard")
    expect(page.locator("#dashboard-balance")).to_have_text("$0.00")


def test_report__waits_with_a_countdown_before_any_sms_and_not_once_the_code_arrived(
        desktop: Page, stack: Stack, sms_held_back: None) -> None:
    page = desktop
    # Given a user with a Telegram number and no SMS yet
    user = number_on_screen(page, stack.app_url, stack.stripe_url, stack.outbox, "report")
    charged = balance(stack.app_url, user)

    # Then reporting waits like cancelling (it would refund), and the page counts down to when it can
    report = page.get_by_role("button", name="Report number")
    expect(report).to_be_disabled()
    expect(page.get_by_text("Cancel or report available")).to_be_visible()
    expect(page.locator("#cancel-timer")).to_have_text(re.compile(r"^in \d+:\d\d$"))

    # When the code arrives inside the early window
    phone = page.locator("#phone").inner_text()
    requests.post(f"{stack.simulator_url}/_sim/deliver", json={"phone": phone, "text": "Your code is 51234"},
                  timeout=5).raise_for_status()
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "RECEIVED",
                                                                         timeout=CODE_WAIT_MS)

    # Then reporting is possible at once, says it refunds nothing, and no cancel message is ever shown
    expect(report).to_be_enabled()
    report.click()
    expect(page.get_by_text("reporting refunds nothing")).to_be_visible()
    page.get_by_role("button", name="Report the number").click()
    expect(page.locator(".status-line [data-status]")).to_have_attribute("data-status", "BANNED")
    expect(page.get_by_text("An SMS had arrived, so its price stands")).to_be_visible()
    expect(page.get_by_text(re.compile("can be canceled"))).to_have_count(0)
    assert balance(stack.app_url, user) == charged


def test_top_up__a_lost_answer_is_retried_as_the_same_payment_and_success_empties_the_form(
        desktop: Page, stack: Stack) -> None:
    page = desktop
    # Given a user with a saved card and $5.00, on the Top up page
    user = verified_user(stack.app_url, stack.outbox, "twice")
    top_up(stack.app_url, stack.stripe_url, user, 500)
    sign_in_page(page, user)
    open_route(page, stack.app_url, "/topup")
    expect(page.locator("#topup-balance")).to_have_text("$5.00")
    keys: list[str | None] = []
    answers_lost = [1]

    def lose_first_answer(route: Route, request: Request) -> None:
        keys.append(request.headers.get("idempotency-key"))
        response = route.fetch()  # the server charges the card…
        if answers_lost.pop() if answers_lost else 0:
            route.abort("connectionreset")  # …and its answer never reaches the page
        else:
            route.fulfill(response=response)

    page.route(re.compile(r"/v1/topups$"), lose_first_answer)

    # When they pay $10.00, the answer is lost, and they press Pay again
    page.get_by_role("button", name="$10.00").click()
    page.get_by_role("button", name="Pay $10.00").click()
    expect(page.get_by_text("Could not reach SMS Rooms")).to_be_visible()
    page.get_by_role("button", name="Pay $10.00").click()

    # Then both attempts carried one Idempotency-Key, and the card was charged once
    expect(page.get_by_text("$10.00 added")).to_be_visible(timeout=20_000)
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
    # And the heading shows the new balance, and the form is empty: another click cannot pay again
    expect(page.locator("#topup-balance")).to_have_text("$15.00")
    expect(page.get_by_label("Amount (USD)")).to_have_value("")
    expect(page.locator("#pay-button")).to_have_text("Pay")
    assert balance(stack.app_url, user) == 1500

    # When they pay again on purpose
    page.get_by_role("button", name="$5.00", exact=True).click()
    page.get_by_role("button", name="Pay $5.00").click()
    # Then it is a new payment with a key of its own
    expect(page.locator("#topup-balance")).to_have_text("$20.00", timeout=20_000)
    assert len(keys) == 3 and keys[2] and keys[2] != keys[0]


def test_top_up__amount_checked_in_dollars_before_the_card_and_card_errors_in_words(desktop: Page,
                                                                                     stack: Stack) -> None:
    page = desktop
    # Given a new user (no saved card) on the Top up page
    user = verified_user(stack.app_url, stack.outbox, "limits")
    sign_in_page(page, user)
    open_route(page, stack.app_url, "/topup")
    expect(page.locator("#card-element input").first).to_be_visible()
    card_steps: list[str] = []
    page.on("request", lambda r: card_steps.append(r.url) if "setup_intents" in r.url else None)

    # When they ask for 50 cents
    page.get_by_label("Amount (USD)").fill("0.50")
    page.get_by_role("button", name="Pay $0.50").click()
    # Then the page says the limits in dollars, before any card step
    expect(page.get_by_text("Enter an amount between $1.00 and $1,000.00.")).to_be_visible()
    assert card_steps == []

    # When they pay $10.00 with the card form left empty
    page.get_by_label("Amount (USD)").fill("10")
    page.get_by_role("button", name="Pay $10.00").click()
    # Then the card's error is in words, and no earlier notice stays beside it
    expect(page.locator("#card-error")).to_have_text(
        "Enter the card's number, expiry date, security code and postal code.")
    expect(page.get_by_text("Confirming your card")).to_have_count(0)
    expect(page.get_by_text("Cannot read properties")).to_have_count(0)

    # And the server, asked directly, speaks in dollars too
    refused = api(stack.app_url, "POST", "/v1/topups", user.token,
                  json={"amount_cents": 50, "payment_method_id": "pm_x"})
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "A top-up must be between 1.00 and 1000.00 USD."


def test_session__a_link_opened_in_a_new_tab_is_signed_in_and_signing_out_ends_every_tab(desktop: Page,
                                                                                       stack: Stack) -> None:
    page = desktop
    # Given a user who signed in with the form in one tab
    user = verified_user(stack.app_url, stack.outbox, "tabs")
    open_route(page, stack.app_url, "/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # When they open a link to their account in a new tab
    other = page.context.new_page()
    open_route(other, stack.app_url, "/account")
    # Then it is signed in
    expect(other.get_by_role("heading", name="Account", exact=True)).to_be_visible()

    # When they sign out in the first tab
    page.get_by_role("button", name="Sign out").click()
    # Then the other tab is signed out too, and back on Sign in
    expect(other.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    kept = other.evaluate("(key) => [localStorage, sessionStorage].map((store) => store.getItem(key))", SESSION_KEY)
    assert kept == [None, None]
