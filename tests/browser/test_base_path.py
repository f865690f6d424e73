"""The dashboard behind a path prefix, as a deploy serves it at https://<id>.execute-api.<region>.amazonaws.com/api/.

A small proxy plays API Gateway's stage: `/api/<path>` goes to the app as `/<path>`, anything else is a 403 (what
API Gateway answers for a path outside the stage). The browser signs in and browses prices through it.
"""
from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import Stack
from tests.browser.helpers import PASSWORD, verified_user

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PREFIX = "/api"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class StageProxy:
    """`/api/*` → the app without the prefix; every other path 403s and is remembered."""

    def __init__(self, app_url: str) -> None:
        self.app = urlsplit(app_url)
        self.refused: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, request: BaseHTTPRequestHandler) -> None:
        if not request.path.startswith(PREFIX + "/"):
            self.refused.append(request.path)
            self._answer(request, 403, [("Content-Type", "application/json")],
                         b'{"message":"Missing Authentication Token"}')
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(self.app.hostname or "127.0.0.1", self.app.port, timeout=10)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream.request(request.command, request.path.removeprefix(PREFIX), body=body, headers=headers)
        reply = upstream.getresponse()
        payload = reply.read()
        upstream.close()
        self._answer(request, reply.status,
                     [(k, v) for k, v in reply.getheaders() if k.lower() not in _HOP_BY_HOP], payload)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stage_proxy(stack: Stack) -> Iterator[StageProxy]:
    proxy = StageProxy(stack.app_url)
    yield proxy
    proxy.close()


def test_dashboard__under_the_stage_prefix_signs_in_and_browses_prices(desktop: Page, stack: Stack,
                                                                        stage_proxy: StageProxy) -> None:
    page = desktop
    user = verified_user(stack.app_url, stack.outbox, "prefix")
    # Given the dashboard opened at <proxy>/api/, the only URL a deploy gives
    page.goto(stage_proxy.url + "#/login")
    expect(page.locator("main")).to_have_attribute("data-ready", "/login")
    # When the user signs in through the page
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # And browses the prices
    page.get_by_role("link", name="Buy a number").first.click()
    expect(page.locator("main")).to_have_attribute("data-ready", "/buy")
    expect(page.get_by_text("Telegram").first).to_be_visible()
    # Then every file and call stayed under the prefix: nothing was refused, the page is the one the proxy served
    assert stage_proxy.refused == []
    assert page.url.startswith(stage_proxy.url)
