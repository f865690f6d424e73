"""The dashboard's files as the app serves them: content types, revalidation, the security policy, no stray files."""
from __future__ import annotations

import pytest
import requests

from infra.local.stack import Stack

pytestmark = pytest.mark.integration


def test_index__served_as_html_with_a_policy_that_allows_only_stripe_and_the_live_socket(stack: Stack) -> None:
    # When the browser asks for the dashboard
    reply = requests.get(f"{stack.app_url}/", timeout=5)

    # Then it gets the page, revalidated each time, framing refused, scripts from us and Stripe only
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-cache"
    policy = reply.headers["Content-Security-Policy"]
    assert f"script-src 'self' {stack.stripe_url}" in policy
    assert "frame-ancestors 'none'" in policy
    # And the page may connect to us, Stripe and the live-updates socket only (no other ws: or wss: origin)
    connect = next(d for d in policy.split("; ") if d.startswith("connect-src "))
    assert connect == f"connect-src 'self' {stack.stripe_url} ws://127.0.0.1:{stack.ports.live}"
    assert '<script type="module" src="static/app.js">' in reply.text  # relative: works under any base path


@pytest.mark.parametrize(("name", "content_type"), [("app.js", "text/javascript; charset=utf-8"),
                                                    ("styles.css", "text/css; charset=utf-8"),
                                                    ("favicon.svg", "image/svg+xml")])
def test_static_file__served_with_its_content_type(stack: Stack, name: str, content_type: str) -> None:
    reply = requests.get(f"{stack.app_url}/static/{name}", timeout=5)

    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == content_type
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


def test_static_file__unchanged_copy_revalidates_with_304(stack: Stack) -> None:
    # Given the browser holds a copy and its ETag
    first = requests.get(f"{stack.app_url}/static/app.js", timeout=5)

    # When it revalidates
    again = requests.get(f"{stack.app_url}/static/app.js", headers={"If-None-Match": first.headers["ETag"]},
                         timeout=5)

    # Then nothing is sent again
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("name", ["nope.js", "index.html", "..%2Fapp.py", "APP.JS", "app.py"])
def test_static_file__anything_but_a_dashboard_asset_is_404(stack: Stack, name: str) -> None:
    reply = requests.get(f"{stack.app_url}/static/{name}", timeout=5)

    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"
