"""Users' webhook URLs cannot reach inside the network (SSRF): refused at save, checked again at delivery."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.config import settings_from_env
from chalicelib.domain.errors import InvalidInput
from chalicelib.providers.pinned_http import post_pinned
from chalicelib.services.accounts.webhook_settings import validate_webhook_url, webhook_policy
from chalicelib.store.accounts import Account
from chalicelib.store.activations import WebhookDelivery
from tests.fake_dns import FakeDns
from tests.unit.activation_support import Desk

HOSTILE = [
    "http://127.0.0.1/", "http://127.0.0.1:8000/v1/me", "http://localhost/", "http://app.localhost/",
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://0x7f000001/", "http://127.1/",
    "http://017700000001/", "http://127.0.0.1./", "http://[::1]/", "http://[::]/", "http://0.0.0.0/", "http://0/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::127.0.0.1]/", "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/",
    "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/",
    "http://10.0.0.1/", "http://10.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://[fc00::1]/", "http://[fe80::1]/", "http://224.0.0.1/", "http://[ff02::1]/", "http://240.0.0.1/",
    "http://255.255.255.255/", "http://198.18.0.1/", "http://192.0.0.170/", "http://[2001:db8::1]/",
    "http://metadata.google.internal/", "http://printer.local/",
    "http://1.2.3.4.5/", "http://256.0.0.1/", "http://0x/", "http://[fe80::1%25eth0]/",
]
MALFORMED = [
    ("not a url", "is not a URL"), ("ftp://example.com/x", "absolute http"), ("example.com/hook", "absolute http"),
    ("https://", "absolute http"), ("https://user:pw@example.com/", "user name or password"),
    ("https://example.com:99999/", "not a valid URL"), ("https://x.com/" + "a" * 2100, "at most 2048"),
    ("https://example.com/\r\nX-Evil: 1", "one line"), ("https://bücher.example/", "ASCII"),
    ("https://exa_mple.com/", "not a valid host name"),
]


def _refusal(url: str, dns: FakeDns | None = None, *, stage: str = "local", loopback: bool = False) -> str:
    settings = replace(settings_from_env({"STAGE": "local"}), stage=stage, webhook_allow_loopback=loopback)
    with pytest.raises(InvalidInput) as refused:
        validate_webhook_url(url, webhook_policy(settings, dns or FakeDns()))
    assert (refused.value.code, refused.value.details) == ("INVALID_URL", {"field": "url"})
    return refused.value.message


@pytest.mark.parametrize("url", HOSTILE)
def test_validate_webhook_url__an_address_inside_the_network_in_any_notation_is_refused(url):
    assert "'url'" in _refusal(url)


@pytest.mark.parametrize(("url", "reason"), MALFORMED)
def test_validate_webhook_url__a_malformed_url_is_refused_with_its_own_reason(url, reason):
    assert reason in _refusal(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1", "fd00:ec2::254"])
def test_validate_webhook_url__a_name_resolving_inside_the_network_is_refused(address):
    # Given a name whose DNS answers a public address and one inside the network
    dns = FakeDns({"hooks.example.com": ["93.184.216.34", address]})
    # Then the URL is refused, whatever the other answers
    assert "private, local or reserved" in _refusal("https://hooks.example.com/sms", dns)


def test_validate_webhook_url__https_is_required_outside_the_local_stage():
    assert "https://" in _refusal("http://hooks.example.com/sms", stage="prod")


def test_validate_webhook_url__the_local_setting_allows_loopback_and_nothing_else():
    local = webhook_policy(replace(settings_from_env({"STAGE": "local"}), webhook_allow_loopback=True), FakeDns())
    assert validate_webhook_url("http://127.0.0.1:9000/hook", local) == "http://127.0.0.1:9000/hook"
    assert "private" in _refusal("http://10.0.0.1/", loopback=True)
    assert "private" in _refusal("http://169.254.169.254/", loopback=True)


def test_settings__loopback_webhooks_cannot_be_allowed_on_a_deployed_stage():
    with pytest.raises(ValueError, match="WEBHOOK_ALLOW_LOOPBACK"):
        settings_from_env({"STAGE": "prod", "WEBHOOK_ALLOW_LOOPBACK": "true"})


def test_validate_webhook_url__public_urls_are_kept_as_written():
    policy = webhook_policy(replace(settings_from_env({"STAGE": "prod"}), dynamodb_endpoint=None), FakeDns())
    for url in ("https://hooks.example.com/sms?x=1", "https://93.184.216.34:8443/a", "https://[2606:4700::1111]/"):
        assert validate_webhook_url(url, policy) == url


# Over HTTP (Chalice's test client, services over moto) --------------------------------------------------------

def test_put_webhook__loopback_is_refused_at_save_when_the_setting_is_off(rest_client, h):
    # Given Ann signed in, on a stage that does not allow loopback webhooks
    account = h.verified()
    token = h.session()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    for url in ("http://127.0.0.1:8000/hook", "http://2130706433/", "http://169.254.169.254/latest/meta-data/"):
        # When she points her webhook inside the network
        reply = rest_client.http.put("/v1/webhook", headers=headers, body=json.dumps({"url": url}))
        # Then it is refused with a clear field error and nothing is stored
        assert reply.status_code == 422, url
        error = reply.json_body["error"]
        assert (error["code"], error["details"]["field"]) == ("INVALID_URL", "url")
        assert "private, local or reserved" in error["message"]
    assert Account.get(account.account_id).webhook_url is None


# Delivery: DNS rebinding, pinning, redirects, answers ----------------------------------------------------------

@dataclass
class Receiver:
    """A real HTTP endpoint on loopback that records what reaches it and answers as told."""

    status: int = 200
    location: str = ""
    endless_body: bool = False
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    bytes_sent: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.path, dict(self.headers), body))
                self.send_response(outer.status)
                if outer.location:
                    self.send_header("Location", outer.location)
                self.end_headers()
                try:
                    for _ in range(4096 if outer.endless_body else 0):  # up to 64 MiB, until we hang up
                        self.wfile.write(b"x" * 16384)
                        outer.bytes_sent += 16384
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _delivering_for_real(desk: Desk, *, loopback: bool) -> FakeDns:
    """The desk's webhooks POST over real sockets, checked by a policy with its own resolver."""
    dns = FakeDns()
    desk.webhooks.policy = webhook_policy(replace(desk.settings, webhook_allow_loopback=loopback), dns)
    desk.webhooks.send = post_pinned
    return dns


def _sms_to(desk: Desk, url: str) -> str:
    user, activation = desk.waiting_number(1000, webhook_url=url)
    desk.push(activation, "Your code is 12345", "12345")
    return user.account_id


def _delivery_of(account_id: str) -> WebhookDelivery:
    (delivery,) = [d for d in WebhookDelivery.scan() if d.account_id == account_id]
    return delivery


def test_deliver_user_webhooks__a_name_rebound_to_loopback_after_save_is_never_called(desk, receiver):
    # Given a URL whose name answered a public address when it was saved (the settings check passed)
    dns = _delivering_for_real(desk, loopback=False)
    url = f"http://rebind.example.com:{receiver.port}/hook"
    validate_webhook_url(url, desk.webhooks.policy)
    account_id = _sms_to(desk, url)
    # When DNS now answers loopback (rebinding) and the job runs, again after every backoff
    dns.answers["rebind.example.com"] = ["127.0.0.1"]
    for _ in range(3):
        desk.service.deliver_user_webhooks()
        desk.clock.advance(3600)
    # Then nothing reached the loopback endpoint and the delivery says why it was not made
    assert receiver.requests == []
    delivery = _delivery_of(account_id)
    assert delivery.status != "delivered" and "private, local or reserved" in str(delivery.last_error)


def test_deliver_user_webhooks__connects_to_the_checked_address_keeping_the_name(desk, receiver):
    # Given a name only our resolver knows, answering loopback where loopback is allowed
    dns = _delivering_for_real(desk, loopback=True)
    dns.answers["hooks.invalid"] = ["127.0.0.1"]
    account_id = _sms_to(desk, f"http://hooks.invalid:{receiver.port}/sms?bot=1")
    # When the job delivers
    assert desk.service.deliver_user_webhooks() == 1
    # Then the POST went to the address that was checked, with the name in its Host header
    ((path, headers, body),) = receiver.requests
    assert (path, headers["Host"], json.loads(body)["sms"]["code"]) == ("/sms?bot=1", f"hooks.invalid:{receiver.port}",
                                                                       "12345")
    assert _delivery_of(account_id).status == "delivered"


def test_deliver_user_webhooks__a_redirect_is_not_followed(desk, receiver):
    # Given an endpoint that answers with a redirect to another one
    _delivering_for_real(desk, loopback=True)
    with_target = Receiver().start()
    try:
        receiver.status, receiver.location = 302, f"http://127.0.0.1:{with_target.port}/elsewhere"
        account_id = _sms_to(desk, f"http://127.0.0.1:{receiver.port}/hook")
        # When the job delivers
        desk.service.deliver_user_webhooks()
        # Then the redirect's target was never called and the attempt counts as failed
        assert with_target.requests == []
        assert _delivery_of(account_id).last_error == "HTTP 302"
    finally:
        with_target.stop()


def test_deliver_user_webhooks__an_endless_answer_is_not_read(desk, receiver):
    # Given an endpoint that answers 200 followed by 64 MiB
    _delivering_for_real(desk, loopback=True)
    receiver.endless_body = True
    account_id = _sms_to(desk, f"http://127.0.0.1:{receiver.port}/hook")
    # When the job delivers
    desk.service.deliver_user_webhooks()
    # Then the event counts as delivered and we hung up long before the end of the answer
    assert _delivery_of(account_id).status == "delivered"
    assert receiver.bytes_sent < 4096 * 16384
