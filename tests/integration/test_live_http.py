"""Live updates over the local stack's WebSocket gateway (infra/local/live_gateway.py, API Gateway's stand-in): the
handshake checks Origin, a socket proves itself by its first message, the partner's push reaches the owner's socket
and nobody else's, and hostile frames are closed with the code API Gateway would use, writing nothing."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bench.live_client import BINARY, HandshakeRefused, LiveClient
from chalicelib.config import Settings
from infra.local.live_gateway import NOT_UTF8, TOO_BIG, UNSUPPORTED
from infra.local.stack import Stack
from tests.support import Customer, customer_with_key

pytestmark = pytest.mark.integration


@pytest.fixture
def live_url(stack: Stack) -> str:
    reply = requests.get(f"{stack.app_url}/v1/live", headers=_bearer(customer_with_key(_bound(stack))), timeout=10)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["url"])


@pytest.fixture
def page(stack: Stack, live_url: str) -> Iterator[LiveClient]:
    client = LiveClient(live_url, origin=stack.app_url)
    yield client
    client.close()


def _bound(stack: Stack) -> Settings:
    from chalicelib.config import settings_from_env
    from chalicelib.store.base import bind_models

    settings = settings_from_env(stack.env())
    bind_models(settings)
    return settings


def _bearer(customer: Customer) -> dict[str, str]:
    return {"Authorization": f"Bearer {customer.api_key}"}


def test_live__a_pushed_code_reaches_the_owners_socket_and_nobody_elses(stack, stack_settings, live_url, page):
    # Given a customer watching with a socket, and another customer watching theirs
    owner, other = customer_with_key(stack_settings, 1000), customer_with_key(stack_settings, 1000)
    assert page.auth(owner.api_key) == {"type": "ready"}
    with LiveClient(live_url, origin=stack.app_url, timeout=2) as other_page:
        assert other_page.auth(other.api_key) == {"type": "ready"}
        ordered = requests.post(f"{stack.app_url}/v1/activations", json={"service": "tg", "country": 0},
                                headers=_bearer(owner), timeout=30)
        assert ordered.status_code == 201, ordered.text
        # When the SMS reaches the partner, which pushes it to us
        requests.post(f"{stack.simulator_url}/_sim/deliver", json={"phone": ordered.json()["phone"],
                                                                   "text": "Your Telegram code is 48213"},
                      timeout=5).raise_for_status()
        # Then the owner's socket gets the code, and the other customer's socket nothing
        assert page.receive() == {"type": "activation", "activation_id": int(ordered.json()["id"]),
                                  "status": "RECEIVED", "code": "48213"}
        with pytest.raises(TimeoutError):
            other_page.frame()


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_live__a_page_of_another_origin_is_refused_at_the_handshake(stack, live_url, origin):
    with pytest.raises(HandshakeRefused) as refused:
        LiveClient(live_url, origin=origin)
    assert refused.value.status == 403


def test_live__a_client_without_origin_connects_but_needs_a_token(live_url):
    with LiveClient(live_url) as client:
        reply = client.auth("not-a-token")
        assert (reply["type"], reply["code"]) == ("error", "UNAUTHENTICATED")
        assert client.close_code() == 1000


@pytest.mark.parametrize(("frame", "opcode", "code"), [
    (b"\x00\x01binary", BINARY, UNSUPPORTED),
    (b"x" * (64 * 1024), 0x1, TOO_BIG),
    (b'{"action": "auth", "token": "\xed\xa0\x80"}', 0x1, NOT_UTF8),  # a lone surrogate, as UTF-8 cannot carry it
])
def test_live__frames_the_gateway_cannot_carry_are_closed_with_their_code(page, frame, opcode, code):
    # When a page sends a frame API Gateway would not pass on
    page.send(frame, opcode)
    # Then the socket is closed with the matching code (the app never sees the frame)
    assert page.close_code() == code


@pytest.mark.parametrize("message", ['{"action": "subscribe", "account_id": "acc_x"}', "[" * 500,
                                     '{"action": "auth", "token": "\\ud800"}', "not json"])
def test_live__messages_that_are_not_an_auth_are_answered_and_closed(page, message):
    # When a page's message is not a well-formed auth
    page.send(message)
    # Then it is told why, then closed
    reply = page.receive()
    assert reply["type"] == "error" and reply["code"] in ("BAD_MESSAGE", "UNKNOWN_ACTION", "UNAUTHENTICATED")
    assert page.close_code() == 1000
