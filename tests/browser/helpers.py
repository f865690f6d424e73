"""What the browser tests share: REST shortcuts that arrange users and money, outbox links, dashboard navigation."""
from __future__ import annotations

import email
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.policy import default
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from infra.local.localstripe_setup import confirm_setup_intent_with_test_card

PASSWORD = "correct horse battery staple"
SESSION_KEY = "smsrooms.session"
_LINK = re.compile(r"https?://\S+#/verify\?token=[A-Za-z0-9_\-.~%]+")
_TIMEOUT_SECONDS = 10

Shot = Callable[[Page, str], None]  # shot(page, "topup") saves a screenshot named for the page and its width


@dataclass(frozen=True)
class User:
    email: str
    token: str


def new_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def verification_link(outbox: Path, address: str, timeout: float = _TIMEOUT_SECONDS) -> str:
    """The verification link of the newest email sent to `address`, as the user would click it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=default)
            if message["To"] != address:
                continue
            body = message.get_body(preferencelist=("plain",))
            found = _LINK.search(body.get_content() if body else "")
            if found:
                return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no verification email to {address} in {outbox} within {timeout:.0f} s")


def api(app_url: str, method: str, path: str, token: str | None = None, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{app_url}{path}", headers=headers, timeout=_TIMEOUT_SECONDS, **kwargs)  # type: ignore[arg-type]


def verified_user(app_url: str, outbox: Path, prefix: str) -> User:
    """A registered, verified and signed-in user, arranged through the public API."""
    address = new_email(prefix)
    version = api(app_url, "GET", "/v1/agreement").json()["version"]
    api(app_url, "POST", "/v1/auth/register",
        json={"email": address, "password": PASSWORD, "agreement_version": version}).raise_for_status()
    token = verification_link(outbox, address).rsplit("token=", 1)[1]
    api(app_url, "POST", "/v1/auth/verify", json={"token": token}).raise_for_status()
    login = api(app_url, "POST", "/v1/auth/login", json={"email": address, "password": PASSWORD})
    login.raise_for_status()
    return User(email=address, token=login.json()["token"])


def top_up(app_url: str, stripe_url: str, user: User, amount_cents: int) -> None:
    """Save the test card the way the fake Stripe.js does, charge it, and wait for the webhook's credit."""
    before = balance(app_url, user)
    setup = api(app_url, "POST", "/v1/topups/card-setup", user.token).json()
    method = confirm_setup_intent_with_test_card(stripe_url, setup["publishable_key"], setup["setup_intent_id"],
                                                 setup["client_secret"])
    api(app_url, "POST", "/v1/topups", user.token,
        json={"amount_cents": amount_cents, "payment_method_id": method}).raise_for_status()
    deadline = time.monotonic() + _TIMEOUT_SECONDS
    while balance(app_url, user) < before + amount_cents:
        if time.monotonic() > deadline:
            raise AssertionError("the top-up was not credited by Stripe's webhook in time")
        time.sleep(0.2)


def balance(app_url: str, user: User) -> int:
    reply = api(app_url, "GET", "/v1/me", user.token)
    reply.raise_for_status()
    return int(reply.json()["balance_cents"])


def sign_in_page(page: Page, user: User) -> None:
    """Put the user's session in the tab the way the sign-in form does, before the app's scripts run."""
    page.context.add_init_script(f"localStorage.setItem({SESSION_KEY!r}, {user.token!r})")


def number_on_screen(page: Page, app_url: str, stripe_url: str, outbox: Path, prefix: str) -> User:
    """A signed-in user with $5.00 who bought a Telegram number on the Buy page; its page shows the number."""
    user = verified_user(app_url, outbox, prefix)
    top_up(app_url, stripe_url, user, 500)
    sign_in_page(page, user)
    open_route(page, app_url, "/buy?service=tg")
    page.locator("#country-offers button.primary:not([disabled])").first.click()
    expect(page.locator("#phone")).to_have_text(re.compile(r"^\+\d+$"))
    return user


def open_route(page: Page, app_url: str, route: str) -> None:
    """Open a dashboard route and wait until its page has rendered its heading."""
    page.goto(f"{app_url}/#{route}")
    expect(page.locator("main")).to_have_attribute("data-ready", route)


# Every dashboard page a visitor and a signed-in customer can open (the page tour and the accessibility check).
PUBLIC_ROUTES = ["/register", "/login", "/forgot", "/reset?token=from-the-email", "/prices", "/agreement", "/contact"]
SIGNED_IN_ROUTES = ["/dashboard", "/topup", "/buy", "/buy?service=wa", "/history", "/rentals", "/payments", "/ledger",
                    "/api-keys", "/webhook", "/refund", "/support", "/account"]


def customer_with_history(app_url: str, stripe_url: str, outbox: Path, prefix: str) -> User:
    """A user with something on every page: money, a number, a rental, an API key, a webhook and a ticket."""
    user = verified_user(app_url, outbox, prefix)
    top_up(app_url, stripe_url, user, 1000)
    for method, path, body in [
        ("POST", "/v1/activations", {"service": "tg", "country": 187}),
        ("POST", "/v1/rentals", {"service": "tg", "country": 187, "hours": 24}),
        ("POST", "/v1/api-keys", {"label": "my Telegram bot"}),
        ("PUT", "/v1/webhook", {"url": "https://bots.example.com/sms"}),
        ("POST", "/v1/support/tickets", {"subject": "A number did not get my SMS",
                                         "message": "Activation 1 stayed waiting. Was I refunded?"}),
    ]:
        api(app_url, method, path, user.token, json=body).raise_for_status()
    return user
