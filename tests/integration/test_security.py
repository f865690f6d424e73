"""Attacks on the running app: forged Stripe webhooks, brute force, one user reaching for another's data (IDOR),
oversize and malformed bodies, header injection through emails, and error replies that leak internals."""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.support.tickets import SupportDesk
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card, signature_header
from infra.local.stack import Stack
from tests.integration.helpers_security import (
    bearer,
    emails_to,
    error_envelope_problems,
    leaks,
    sign_up,
    unique_email,
)
from tests.support import Customer, client_at, customer_with_key, priced_settings

pytestmark = pytest.mark.integration

CARD_ASKING_FOR_3DS = "4000002500003155"  # the PaymentIntent waits for the customer: no webhook comes by itself
TOP_UP_CENTS = 700
FLOOD_MAX_REQUESTS = 400
LOGIN_MAX_GUESSES = 12


def get(stack: Stack, path: str, secret: str | None = None, **kwargs: Any) -> requests.Response:
    return requests.get(stack.app_url + path, headers=bearer(secret) if secret else None, timeout=30, **kwargs)


def post(stack: Stack, path: str, secret: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {**(bearer(secret) if secret else {}), **kwargs.pop("headers", {})}
    return requests.post(stack.app_url + path, headers=headers, timeout=30, **kwargs)


def assert_envelope(reply: requests.Response, status: int, code: str | None = None) -> None:
    assert reply.status_code == status, reply.text[:300]
    assert error_envelope_problems(reply) == []
    if code is not None:
        assert reply.json()["error"]["code"] == code


def without_ids(reply: requests.Response, *ids: object) -> str:
    """The reply as a client sees it, with the ids it was asked about blanked (to compare two refusals)."""
    text = reply.text
    for value in ids:
        text = text.replace(str(value), "<id>")
    return f"{reply.status_code} {text}"


@pytest.fixture(scope="module")
def bound(stack: Stack) -> Settings:
    """This process's models on the stack's tables (and the partners' prices loaded), for module-wide arrangements."""
    return priced_settings(stack)


# ---- Stripe webhooks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingTopUp:
    customer: Customer
    topup_id: str
    payment_intent_id: str

    def succeeded_event(self) -> bytes:
        """The `payment_intent.succeeded` event Stripe would send when the customer completes 3D Secure."""
        intent = {"id": self.payment_intent_id, "object": "payment_intent", "amount": TOP_UP_CENTS,
                  "amount_received": TOP_UP_CENTS, "currency": "usd", "status": "succeeded",
                  "metadata": {"topup_id": self.topup_id, "account_id": self.customer.account_id}}
        return json.dumps({"id": f"evt_{secrets.token_hex(8)}", "object": "event", "type": "payment_intent.succeeded",
                           "created": int(time.time()), "data": {"object": intent}}).encode()


def pending_top_up(stack: Stack, settings: Settings) -> PendingTopUp:
    """A customer whose card top-up waits for 3D Secure: credited only when a genuine webhook says so."""
    customer = customer_with_key(settings)
    setup = post(stack, "/v1/topups/card-setup", customer.api_key).json()
    card = confirm_setup_intent_with_test_card(stack.stripe_url, setup["publishable_key"], setup["setup_intent_id"],
                                               setup["client_secret"], CARD_ASKING_FOR_3DS)
    started = post(stack, "/v1/topups", customer.api_key, json={"amount_cents": TOP_UP_CENTS,
                                                                "payment_method_id": card})
    assert started.status_code == 201 and started.json()["status"] == "requires_action", started.text
    return PendingTopUp(customer, started.json()["topup_id"], started.json()["payment_intent_id"])


@pytest.fixture(scope="module")
def waiting_top_up(stack: Stack, bound: Settings) -> PendingTopUp:
    return pending_top_up(stack, bound)


def send_event(stack: Stack, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return requests.post(f"{stack.app_url}/v1/webhooks/stripe", data=body, headers=headers, timeout=30)


def balance_of(stack: Stack, customer: Customer) -> int:
    return int(get(stack, "/v1/me", customer.api_key).json()["balance_cents"])


BAD_SIGNATURES: dict[str, Callable[[bytes, str], tuple[bytes, str | None]]] = {
    "forged with another secret": lambda body, secret: (body, signature_header(body, "whsec_guess", int(time.time()))),
    "stale (an hour old)": lambda body, secret: (body, signature_header(body, secret, int(time.time()) - 3600)),
    "from the future": lambda body, secret: (body, signature_header(body, secret, int(time.time()) + 3600)),
    "valid for another body": lambda body, secret: (
        body.replace(b'"amount": 700', b'"amount": 70000'), signature_header(body, secret, int(time.time()))),
    "missing": lambda body, secret: (body, None),
    "garbage": lambda body, secret: (body, "t=now,v1=<script>"),
}


@pytest.mark.parametrize("forgery", sorted(BAD_SIGNATURES))
def test_stripe_webhook__a_bad_signature_is_refused_and_credits_nothing(
        stack: Stack, stack_settings: Settings, waiting_top_up: PendingTopUp, forgery: str) -> None:
    # Given a top-up waiting for Stripe, and its success event signed wrongly
    body, signature = BAD_SIGNATURES[forgery](waiting_top_up.succeeded_event(), stack_settings.stripe_webhook_secret)
    # When it is posted to our webhook
    reply = send_event(stack, body, signature)
    # Then it is refused with 400 in the envelope, and no money, ledger entry or top-up status changed
    assert_envelope(reply, 400, "BAD_SIGNATURE")
    customer = waiting_top_up.customer
    assert balance_of(stack, customer) == 0
    assert get(stack, "/v1/ledger", customer.api_key).json()["items"] == []
    [top_up] = get(stack, "/v1/payments", customer.api_key).json()["items"]
    assert top_up["status"] == "requires_action"


def test_stripe_webhook__the_genuine_event_credits_once(stack: Stack, stack_settings: Settings) -> None:
    # Given a top-up waiting for Stripe (the same arrangement the forgeries above fail against)
    waiting = pending_top_up(stack, stack_settings)
    body = waiting.succeeded_event()
    secret = stack_settings.stripe_webhook_secret
    # When its success event arrives correctly signed, then again (a Stripe retry, freshly signed)
    first = send_event(stack, body, signature_header(body, secret, int(time.time())))
    again = send_event(stack, body, signature_header(body, secret, int(time.time())))
    # Then it is credited exactly once
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert balance_of(stack, waiting.customer) == TOP_UP_CENTS


# ---- brute force -------------------------------------------------------------------------------------------


def flood(send: Callable[[], requests.Response], max_requests: int = FLOOD_MAX_REQUESTS) -> list[requests.Response]:
    """Send from 12 threads until the first 429 or `max_requests`; every reply, in order of arrival."""
    replies: list[requests.Response] = []

    def one(_: int) -> None:
        if not any(r.status_code == 429 for r in replies):
            replies.append(send())

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(one, range(max_requests)))
    return replies


def test_rate_limit__a_flood_with_one_key_meets_429(stack: Stack, stack_settings: Settings) -> None:
    # Given a customer's API key
    customer = customer_with_key(stack_settings)
    # When a client floods the API with it
    replies = flood(lambda: get(stack, "/v1/me", customer.api_key))
    # Then it is refused with 429, the envelope and a Retry-After
    limited = [r for r in replies if r.status_code == 429]
    assert limited, f"{len(replies)} requests, none refused"
    assert_envelope(limited[0], 429, "RATE_LIMITED")
    assert int(limited[0].headers["Retry-After"]) >= 1


def test_rate_limit__guessing_api_keys_meets_429(stack: Stack) -> None:
    # Given an attacker who tries a different made-up key on every request
    attacker = client_at("127.0.0.31")

    def guess() -> requests.Response:
        return attacker.get(f"{stack.app_url}/v1/me", headers=bearer("smsr_" + secrets.token_urlsafe(32)), timeout=30)

    # When they guess as fast as the server answers
    replies = flood(guess)
    # Then no guess works, and the guessing meets the rate limit
    assert {r.status_code for r in replies} <= {401, 429}
    assert any(r.status_code == 429 for r in replies), f"{len(replies)} guesses, none refused"


def test_handler_api__guessing_api_keys_meets_the_ban(stack: Stack) -> None:
    # Given an attacker who tries a different made-up key on every handler API call
    attacker = client_at("127.0.0.32")

    def guess() -> requests.Response:
        return attacker.get(f"{stack.app_url}/stubs/handler_api.php", timeout=30,
                            params={"action": "getBalance", "api_key": secrets.token_hex(16)})

    # When they guess as fast as the server answers
    replies = flood(guess)
    # Then every guess is BAD_KEY until the protocol's temporary ban (HTTP 429) stops them
    assert {r.text.split(":")[0] for r in replies} <= {"BAD_KEY", "BANNED"}
    assert any(r.status_code == 429 for r in replies), f"{len(replies)} guesses, none refused"


def test_login__password_guessing_meets_429_even_for_the_right_password(stack: Stack) -> None:
    # Given a member
    member = sign_up(stack.app_url, stack.outbox)
    # When someone guesses their password until refused (few guesses: the throttle also counts per IP)
    replies = []
    for guess in range(LOGIN_MAX_GUESSES):
        replies.append(post(stack, "/v1/auth/login", json={"email": member.email, "password": f"guess-{guess}-xyz"}))
        if replies[-1].status_code == 429:
            break
    right_password = post(stack, "/v1/auth/login", json={"email": member.email, "password": member.password})
    # Then guessing meets 429 with Retry-After, and meanwhile even the right password learns nothing
    assert [r.status_code for r in replies[:-1]] == [401] * (len(replies) - 1)
    assert_envelope(replies[-1], 429, "RATE_LIMITED")
    assert_envelope(right_password, 429, "RATE_LIMITED")
    # And the owner gets in once the wait is over
    time.sleep(int(right_password.headers["Retry-After"]))
    assert post(stack, "/v1/auth/login", json={"email": member.email, "password": member.password}).status_code == 200


# ---- one user reaching for another's data (IDOR) ------------------------------------------------------------


@dataclass(frozen=True)
class Victim:
    customer: Customer
    session: str
    key_id: str
    activation_id: int
    ticket_id: str


@pytest.fixture(scope="module")
def alice(stack: Stack, bound: Settings) -> Victim:
    """A customer with an activation, a ticket, a pending refund request, ledger entries and a second API key."""
    customer = customer_with_key(bound, 1_000)
    credentials = Credentials(SystemClock(), bound.session_ttl_seconds)
    key_id = credentials.create_api_key(customer.account_id, "second").key_id
    activation = post(stack, "/v1/activations", customer.api_key, json={"service": "tg", "country": 0})
    assert activation.status_code == 201, activation.text
    ticket = post(stack, "/v1/support/tickets", customer.api_key, json={"subject": "Mine", "message": "Private."})
    assert ticket.status_code == 201, ticket.text
    refund = post(stack, "/v1/refund-requests", customer.api_key, json={"reason": "Leaving."})
    assert refund.status_code == 201, refund.text
    return Victim(customer, credentials.issue_session(customer.account_id).token, key_id,
                  activation.json()["id"], ticket.json()["ticket_id"])


RUNNING = {"WAITING", "RECEIVED"}  # what none of Mallory's attempts (cancel, finish, retry, ban) would leave


def status_of(stack: Stack, victim: Victim) -> str:
    return str(get(stack, f"/v1/activations/{victim.activation_id}", victim.customer.api_key).json()["status"])


@pytest.fixture(scope="module")
def mallory(bound: Settings) -> Victim:
    customer = customer_with_key(bound, 1_000)
    session = Credentials(SystemClock(), bound.session_ttl_seconds).issue_session(customer.account_id).token
    return Victim(customer, session, "", 0, "")


@pytest.mark.parametrize("action", ["", "/cancel", "/finish", "/retry", "/ban"])
def test_idor__another_users_activation_is_not_found(stack: Stack, alice: Victim, mallory: Victim,
                                                     action: str) -> None:
    # Given Alice's running activation, and an id that belongs to nobody
    method = get if action == "" else post
    # When Mallory reads it or acts on it
    theirs = method(stack, f"/v1/activations/{alice.activation_id}{action}", mallory.customer.api_key)
    nobodys = method(stack, f"/v1/activations/999999999{action}", mallory.customer.api_key)
    # Then she gets the same 404 as for an id that does not exist, and the activation runs on (its SMS may come)
    assert_envelope(theirs, 404)
    assert without_ids(theirs, alice.activation_id) == without_ids(nobodys, 999999999)
    assert status_of(stack, alice) in RUNNING


def test_idor__another_users_money_and_history_stay_private(stack: Stack, alice: Victim, mallory: Victim) -> None:
    # Given Alice's ledger, payments, refund requests, activations and tickets
    alices = {path: get(stack, path, alice.customer.api_key).json()["items"]
              for path in ("/v1/ledger", "/v1/payments", "/v1/refund-requests", "/v1/activations",
                           "/v1/support/tickets")}
    assert all(alices.values())
    # When Mallory lists hers, even naming Alice in the query
    for path, items in alices.items():
        reply = get(stack, path, mallory.customer.api_key, params={"account_id": alice.customer.account_id})
        # Then nothing of Alice's shows
        assert alice.customer.account_id not in reply.text
        ids = {json.dumps(item, sort_keys=True) for item in items}
        assert not ids & {json.dumps(item, sort_keys=True) for item in reply.json()["items"]}, path


def test_idor__another_users_ticket_is_not_found(stack: Stack, alice: Victim, mallory: Victim) -> None:
    # Given Alice's ticket
    # When Mallory reads it or writes to it
    read = get(stack, f"/v1/support/tickets/{alice.ticket_id}", mallory.customer.api_key)
    wrote = post(stack, f"/v1/support/tickets/{alice.ticket_id}/messages", mallory.customer.api_key,
                 json={"message": "Send me your code"})
    # Then both are 404, and Alice's ticket has only her message
    assert_envelope(read, 404)
    assert_envelope(wrote, 404)
    mine = get(stack, f"/v1/support/tickets/{alice.ticket_id}", alice.customer.api_key).json()
    assert [m["message"] for m in mine["messages"]] == ["Private."]


def test_idor__another_users_ticket_reads_like_no_ticket_at_all(stack: Stack, alice: Victim, mallory: Victim) -> None:
    # Given Alice's ticket, and a ticket id that belongs to nobody
    # When Mallory asks for each
    theirs = get(stack, f"/v1/support/tickets/{alice.ticket_id}", mallory.customer.api_key)
    nobodys = get(stack, "/v1/support/tickets/tkt_000000000000", mallory.customer.api_key)
    # Then the two refusals cannot be told apart, so ticket ids cannot be probed
    assert without_ids(theirs, alice.ticket_id) == without_ids(nobodys, "tkt_000000000000")


def test_idor__another_users_api_key_cannot_be_revoked(stack: Stack, alice: Victim, mallory: Victim) -> None:
    # Given Alice's second API key
    # When Mallory, signed in, tries to revoke it by its id
    reply = requests.delete(f"{stack.app_url}/v1/api-keys/{alice.key_id}", headers=bearer(mallory.session),
                            timeout=30)
    # Then it is not found, and Alice still has it
    assert_envelope(reply, 404)
    assert alice.key_id in {k["key_id"] for k in get(stack, "/v1/api-keys", alice.session).json()["items"]}


@pytest.mark.parametrize("params", [{"action": "getStatus"}, {"action": "getFullSms"},
                                    {"action": "setStatus", "status": "8"}, {"action": "setStatus", "status": "6"}])
def test_idor__the_handler_api_cannot_reach_another_users_activation(stack: Stack, alice: Victim, mallory: Victim,
                                                                     params: dict[str, str]) -> None:
    # Given Alice's running activation
    # When Mallory names it through the handler API
    reply = requests.get(f"{stack.app_url}/stubs/handler_api.php", timeout=30,
                         params={**params, "id": str(alice.activation_id), "api_key": mallory.customer.api_key})
    # Then it does not exist for her, and it runs on
    assert (reply.status_code, reply.text) == (200, "NO_ACTIVATION")
    assert status_of(stack, alice) in RUNNING


# ---- oversize and malformed bodies -------------------------------------------------------------------------

MALFORMED = {
    "over 64 KiB": b'{"subject": "big", "message": "' + b"x" * (65 * 1024) + b'"}',
    "not JSON": b"subject=hi&message=there",
    "truncated": b'{"subject": "hi", "message": ',
    "not an object": b'["subject", "message"]',
    "not UTF-8": b'{"subject": "\xff\xfe", "message": "x"}',
    "wrong types": b'{"subject": {"$ne": null}, "message": ["x"]}',
    "NaN": b'{"subject": NaN, "message": Infinity}',
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_request__a_malformed_or_oversize_body_gets_a_4xx_envelope_and_writes_nothing(
        stack: Stack, stack_settings: Settings, shape: str) -> None:
    # Given a customer
    customer = customer_with_key(stack_settings)
    # When they open a ticket with a bad body
    reply = post(stack, "/v1/support/tickets", customer.api_key, data=MALFORMED[shape],
                 headers={"Content-Type": "application/json"})
    # Then it is a 422 in the envelope, and no ticket exists
    assert_envelope(reply, 422)
    assert get(stack, "/v1/support/tickets", customer.api_key).json()["items"] == []


def test_request__deeply_nested_json_gets_a_4xx_envelope(stack: Stack, stack_settings: Settings) -> None:
    # Given a customer
    customer = customer_with_key(stack_settings)
    # When they send 60 KB of nested arrays (under the size limit)
    reply = post(stack, "/v1/support/tickets", customer.api_key, data=b"[" * 30_000 + b"]" * 30_000,
                 headers={"Content-Type": "application/json"})
    # Then it is refused as malformed, not a server error
    assert_envelope(reply, 422)


@pytest.mark.parametrize("method,content_type", [("POST", "text/plain"), ("PUT", "application/json")])
def test_request__a_wrong_content_type_or_method_gets_the_envelope(stack: Stack, stack_settings: Settings,
                                                                   method: str, content_type: str) -> None:
    # Given a customer
    customer = customer_with_key(stack_settings)
    # When they send a ticket as text/plain, or with a method the route does not take
    reply = requests.request(method, f"{stack.app_url}/v1/support/tickets", data=b"{}", timeout=30,
                             headers={**bearer(customer.api_key), "Content-Type": content_type})
    # Then the refusal is a 4xx in the envelope
    assert 400 <= reply.status_code < 500
    assert error_envelope_problems(reply) == []


# ---- header injection through emails -----------------------------------------------------------------------

INJECTED = "evil-{}@example.net"


@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/forgot-password", "/v1/auth/resend-verification"])
def test_email__a_line_break_in_an_address_sends_no_mail_with_injected_headers(stack: Stack, path: str) -> None:
    # Given an address that smuggles a Bcc header
    evil = INJECTED.format(secrets.token_hex(4))
    address = f"{unique_email('victim')}\r\nBcc: {evil}"
    # When it is used to register, to ask for a reset or for a new verification link
    reply = post(stack, path, json={"email": address, "password": "violet-harbour-lantern-42",
                                    "agreement_version": "1"})
    # Then the address is refused or silently ignored, and no email anywhere names the injected recipient
    assert reply.status_code in (202, 422), reply.text
    assert not [p for p in stack.outbox.glob("*.eml") if evil.encode() in p.read_bytes()]


def test_email__a_line_break_in_a_ticket_subject_cannot_add_headers(stack: Stack, stack_settings: Settings) -> None:
    # Given a customer who opens a ticket whose subject smuggles a Bcc header and a body
    customer = customer_with_key(stack_settings)
    evil = INJECTED.format(secrets.token_hex(4))
    opened = post(stack, "/v1/support/tickets", customer.api_key,
                  json={"subject": f"Help\r\nBcc: {evil}\r\n\r\nfake body", "message": "hi"})
    assert opened.status_code == 201, opened.text
    # When support answers, which emails the customer with the ticket's subject in the email's Subject
    desk = SupportDesk(OutboxMailer(str(stack.outbox), stack_settings.mail_from), stack.app_url, SystemClock())
    desk.reply(opened.json()["ticket_id"], "We are on it.", actor="support@sms-rooms")
    # Then the email goes to the customer alone, with a one-line subject and no injected header
    [answer] = emails_to(stack.outbox, customer.email)
    assert str(answer["To"]) == customer.email
    assert answer["Bcc"] is None and answer["Cc"] is None
    assert "\n" not in str(answer["Subject"]) and "\r" not in str(answer["Subject"])


def test_webhook__a_url_with_a_line_break_is_refused(stack: Stack, stack_settings: Settings) -> None:
    # Given a customer
    customer = customer_with_key(stack_settings)
    # When they set an SMS webhook URL that smuggles a header
    reply = requests.put(f"{stack.app_url}/v1/webhook", headers=bearer(customer.api_key), timeout=30,
                         json={"url": "https://bot.example.com/sms\r\nX-Injected: 1"})
    # Then it is refused
    assert_envelope(reply, 422)


def test_webhook__an_address_inside_the_network_is_refused_even_where_loopback_is_allowed(
        stack: Stack, stack_settings: Settings) -> None:
    # Given a customer, on the test stack (which allows loopback webhooks for its own receivers)
    customer = customer_with_key(stack_settings)
    urls = ["http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://[fd00:ec2::254]/",
            "http://10.0.0.1/", "http://0x0a.1/", "http://[::ffff:192.168.0.1]/", "http://100.64.0.1/",
            "http://metadata.google.internal/"]
    # When they point their webhook at the cloud metadata service or a private network, in any notation
    replies = {url: requests.put(f"{stack.app_url}/v1/webhook", headers=bearer(customer.api_key), timeout=30,
                                 json={"url": url}) for url in urls}
    # Then each is refused with the reason, and no URL is stored
    for reply in replies.values():
        assert_envelope(reply, 422, "INVALID_URL")
    assert {url: reply.json()["error"]["message"] for url, reply in replies.items()
            if "'url'" not in reply.json()["error"]["message"]} == {}
    assert get(stack, "/v1/webhook", customer.api_key).json()["url"] is None


# ---- errors leak nothing -----------------------------------------------------------------------------------


def test_errors__no_refusal_leaks_a_trace_a_path_or_a_secret(stack: Stack, stack_settings: Settings) -> None:
    # Given a customer
    customer = customer_with_key(stack_settings, 100)
    handler = f"{stack.app_url}/stubs/handler_api.php"
    # When every kind of bad request is sent
    replies = [
        *(post(stack, "/v1/support/tickets", customer.api_key, data=body, headers={"Content-Type": "application/json"})
          for body in MALFORMED.values()),
        post(stack, "/v1/activations", customer.api_key, json={"service": "tg", "country": 10**30}),
        post(stack, "/v1/activations", customer.api_key, json={"service": "\x00" * 10, "country": -1}),
        post(stack, "/v1/topups", customer.api_key, json={"amount_cents": 500, "payment_method_id": "pm_x\r\n"}),
        get(stack, "/v1/activations/../../etc/passwd", customer.api_key),
        get(stack, "/v1/ledger", customer.api_key, params={"limit": "1e99", "before_seq": "-1"}),
        get(stack, "/v1/me", "' OR 1=1 --"),
        send_event(stack, b'{"id": 1}', "t=1,v1=00"),
        requests.post(f"{stack.app_url}/v1/partners/sim/push", data=b"{}", timeout=30),
        requests.get(handler, params={"api_key": customer.api_key, "action": "getStatus", "id": "1e999"}, timeout=30),
        requests.get(handler, params={"api_key": customer.api_key, "action": "getNumber", "service": "tg",
                                      "country": "0", "maxPrice": "-1e308"}, timeout=30),
    ]
    # Then each is refused without a traceback, a source path, a library name or a configured secret
    assert [r.status_code for r in replies if r.status_code >= 500] == []
    leaked = {f"{r.request.method} {r.request.path_url[:60]}": leaks(r.text) for r in replies if leaks(r.text)}
    assert leaked == {}
