"""Stripe webhook signatures: only events signed with our secret, recently, are believed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.providers.stripe_gateway import (
    StripeGateway,
    WebhookPayloadError,
    WebhookSignatureError,
)
from infra.local.localstripe_setup import signature_header

SECRET = "whsec_unit"
NOW = 1_800_000_000
EVENT = {
    "id": "evt_1", "type": "payment_intent.succeeded", "created": NOW - 2, "object": "event",
    "data": {"object": {"id": "pi_1", "amount": 500, "metadata": {"topup_id": "t1"}}},
}
BODY = json.dumps(EVENT, indent=2, sort_keys=True).encode()


@pytest.fixture
def gateway() -> StripeGateway:
    return StripeGateway(secret_key="sk_test_unit", api_base=None, webhook_secret=SECRET)


def test_parse_webhook__valid_signature_gives_the_event(gateway: StripeGateway) -> None:
    # Given an event signed with our secret a second ago
    header = signature_header(BODY, SECRET, NOW - 1)
    # When it is parsed
    event = gateway.parse_webhook(BODY, header, now=NOW)
    # Then the event and its object come out as sent
    assert (event.id, event.type, event.created) == ("evt_1", "payment_intent.succeeded", NOW - 2)
    assert event.data_object["metadata"] == {"topup_id": "t1"}


def test_parse_webhook__signature_from_another_secret_is_rejected(gateway: StripeGateway) -> None:
    # Given an event signed by someone who does not know our secret
    header = signature_header(BODY, "whsec_attacker", NOW)
    # When / Then it is refused
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(BODY, header, now=NOW)


def test_parse_webhook__body_changed_after_signing_is_rejected(gateway: StripeGateway) -> None:
    # Given a correctly signed event whose amount was then raised
    header = signature_header(BODY, SECRET, NOW)
    tampered = BODY.replace(b'"amount": 500', b'"amount": 50000')
    # When / Then it is refused
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(tampered, header, now=NOW)


def test_parse_webhook__replayed_old_event_is_rejected(gateway: StripeGateway) -> None:
    # Given a genuine event signed ten minutes ago
    header = signature_header(BODY, SECRET, NOW - 600)
    # When / Then replaying it now is refused
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(BODY, header, now=NOW)


@pytest.mark.parametrize("header", ["", "garbage", f"t={NOW}", "v1=abc", f"t=soon,v1={'0' * 64}"])
def test_parse_webhook__missing_or_malformed_header_is_rejected(gateway: StripeGateway, header: str) -> None:
    # Given a request without a usable Stripe-Signature header
    # When / Then it is refused
    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(BODY, header, now=NOW)


def test_parse_webhook__any_matching_v1_signature_is_enough(gateway: StripeGateway) -> None:
    # Given a header carrying an old secret's signature and ours, as during a secret roll
    ours = signature_header(BODY, SECRET, NOW).split(",")[1]
    old = signature_header(BODY, "whsec_old", NOW).split(",")[1]
    header = f"t={NOW}, {old}, {ours}, v0=deadbeef"
    # When it is parsed
    event = gateway.parse_webhook(BODY, header, now=NOW)
    # Then it is believed
    assert event.id == "evt_1"


@pytest.mark.parametrize(("age_seconds", "accepted"), [(300, True), (301, False), (-300, True), (-301, False)])
def test_parse_webhook__tolerance_is_300_seconds_either_way(
    gateway: StripeGateway, age_seconds: int, accepted: bool,
) -> None:
    # Given an event signed age_seconds ago (negative: stamped in the future)
    header = signature_header(BODY, SECRET, NOW - age_seconds)
    # When it is parsed
    outcome = _accepted(gateway, header)
    # Then exactly the stamps within 300 s are believed
    assert outcome is accepted


def test_parse_webhook__signed_body_that_is_not_an_event_is_rejected(gateway: StripeGateway) -> None:
    # Given a correctly signed body that is not a Stripe event
    body = b'{"hello": "world"}'
    header = signature_header(body, SECRET, NOW)
    # When / Then it is refused as a bad payload
    with pytest.raises(WebhookPayloadError):
        gateway.parse_webhook(body, header, now=NOW)


def test_parse_webhook__does_not_import_the_stripe_sdk() -> None:
    # Given a fresh interpreter, as in a Lambda cold start
    code = (
        "import sys\n"
        "from infra.local.localstripe_setup import signature_header\n"
        "from chalicelib.providers.stripe_gateway import StripeGateway\n"
        "body = b'{\"id\": \"evt_1\", \"type\": \"t\", \"created\": 1, \"data\": {\"object\": {}}}'\n"
        "StripeGateway('sk', None, 'whsec').parse_webhook(body, signature_header(body, 'whsec', 1), now=1)\n"
        "print('stripe' in sys.modules)\n"
    )
    # When a webhook is verified and parsed
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, check=True)
    # Then the ~200 ms stripe import was never paid
    assert result.stdout.strip() == "False"


def _accepted(gateway: StripeGateway, header: str) -> bool:
    try:
        gateway.parse_webhook(BODY, header, now=NOW)
    except WebhookSignatureError:
        return False
    return True


@pytest.mark.parametrize("depth", [50_000, 200_000])
def test_parse_webhook__a_signed_body_nested_deep_is_not_an_event_not_a_crash(gateway: StripeGateway, depth: int):
    # Given a body signed with our secret (a leaked secret, or our own bug) nested tens of thousands deep
    body = b'{"a":' * depth + b"1" + b"}" * depth
    header = signature_header(body, SECRET, NOW)
    # When / Then it is refused as not an event, never a RecursionError (a 500)
    with pytest.raises(WebhookPayloadError):
        gateway.parse_webhook(body, header, now=NOW)
