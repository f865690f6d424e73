"""The dashboard's security forms as a person uses them: sessions with revoke, change password, reset's key choice."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.browser.helpers import PASSWORD, Shot, api, open_route, sign_in_page, verified_user
from tests.integration.helpers_security import link_token

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NEW_PASSWORD = "amber-quarry-sextant-77"


def _status(stack: Stack, secret: str) -> int:
    return api(stack.app_url, "GET", "/v1/me", secret).status_code


def _api_key(stack: Stack, token: str) -> str:
    return str(api(stack.app_url, "POST", "/v1/api-keys", token, json={"label": "bot"}).json()["api_key"])


def test_account__a_session_is_revoked_and_the_password_changed_in_the_page(desktop: Page, stack: Stack,
                                                                            shot: Shot) -> None:
    # Given a user signed in in this browser, also signed in from a script, with a bot's API key
    page = desktop
    user = verified_user(stack.app_url, stack.outbox, "secure")
    script = requests.post(f"{stack.app_url}/v1/auth/login", headers={"User-Agent": "my-backup-script/1.0"},
                           json={"email": user.email, "password": PASSWORD}, timeout=10).json()["token"]
    key = _api_key(stack, user.token)
    sign_in_page(page, user)
    open_route(page, stack.app_url, "/account")

    # When they look at their sessions: this browser is marked, the script's is listed with its device
    sessions = page.locator("#sessions")
    expect(sessions.get_by_text("this browser")).to_be_visible()
    script_row = sessions.locator("tr", has_text="my-backup-script/1.0")
    expect(script_row).to_be_visible()
    shot(page, "account-security")
    # And sign the script's session out
    script_row.get_by_role("button", name="Sign out").click()
    page.get_by_role("dialog").get_by_role("button", name="Sign it out").click()
    # Then it is gone from the list and no longer works
    expect(script_row).to_have_count(0)
    assert _status(stack, script) == 401

    # When they change the password with a wrong current one
    password_form = page.locator("#change-password")
    password_form.get_by_label("Current password").fill("not my password")
    password_form.get_by_label("New password").fill(NEW_PASSWORD)
    password_form.get_by_role("button", name="Change the password").click()
    # Then they are told next to the field, and nothing changed
    expect(password_form.locator('[data-error-for="current_password"]')).to_have_text(
        "That is not your current password.")
    assert _status(stack, key) == 200

    # When they give the right one, leaving "revoke every API key" ticked as it comes
    expect(password_form.get_by_label("Also revoke every API key", exact=False)).to_be_checked()
    password_form.get_by_label("Current password").fill(PASSWORD)
    password_form.get_by_label("New password").fill(NEW_PASSWORD)
    password_form.get_by_role("button", name="Change the password").click()
    # Then the page says so and stays signed in (it holds the new session), while the old session and the key die
    expect(password_form.get_by_text("Your password is changed")).to_be_visible()
    assert _status(stack, user.token) == 401 and _status(stack, key) == 401
    page.evaluate("location.hash = '#/dashboard'")
    expect(page.locator("main")).to_have_attribute("data-ready", "/dashboard")
    page.evaluate("location.hash = '#/account'")
    expect(page.locator("#sessions").get_by_text("this browser")).to_be_visible()
    login = api(stack.app_url, "POST", "/v1/auth/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 200


def test_reset__the_revoke_keys_choice_comes_ticked_and_may_keep_the_keys(desktop: Page, stack: Stack) -> None:
    # Given a user with a bot's key who asked for a reset link
    page = desktop
    user = verified_user(stack.app_url, stack.outbox, "resetter")
    key = _api_key(stack, user.token)
    api(stack.app_url, "POST", "/v1/auth/forgot-password", json={"email": user.email}).raise_for_status()
    token = link_token(stack.outbox, user.email, subject="Reset")
    # When they open the link: the choice to revoke every API key comes ticked
    open_route(page, stack.app_url, f"/reset-password?token={token}")
    choice = page.get_by_label("Also revoke every API key", exact=False)
    expect(choice).to_be_checked()
    # And they untick it and save a new password
    choice.uncheck()
    page.get_by_role("textbox", name="New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    # Then the page says the keys still work, and they do, while the session was signed out
    expect(page.get_by_text("Your API keys still work.")).to_be_visible()
    assert _status(stack, key) == 200 and _status(stack, user.token) == 401
