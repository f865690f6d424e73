"""`bin/admin stripe-webhook` against localstripe's webhook endpoints and moto's SSM: register, re-run, recover."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.providers.stripe_gateway import StripeGateway
from chalicelib.services.money.stripe_events import STRIPE_EVENT_HANDLERS
from infra.stripe_webhook import handled_events, register, stripe_client
from tests.integration.localstripe_support import WebhookReceiver, customer_with_saved_card, running_localstripe

pytestmark = pytest.mark.integration

PREFIX = "/sms-rooms/rehearsal/"
PARAMETER = PREFIX + "STRIPE_WEBHOOK_SECRET"


@pytest.fixture(scope="module")
def stripe_base_url() -> Iterator[str]:
    with running_localstripe() as base_url:
        yield base_url


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def stripe(stripe_base_url: str) -> Any:
    return stripe_client("sk_test_local", stripe_base_url)


def endpoints_at(stripe: Any, url: str) -> list[Any]:
    return [e for e in stripe.v1.webhook_endpoints.list().auto_paging_iter() if e.url == url]


def stored_secret(ssm: Any) -> str:
    return stored_secret_of(ssm, PARAMETER)


def test_stripe_webhook__registers_the_handled_events_and_the_secret_signs_real_events(
        stripe: Any, ssm: Any, stripe_base_url: str) -> None:
    with WebhookReceiver() as receiver:
        # When the command registers the stage's endpoint
        done = register(stripe, ssm, PREFIX, receiver.url, "rehearsal")
        # Then Stripe has one endpoint there, for exactly the events the webhook dispatches
        [endpoint] = endpoints_at(stripe, receiver.url)
        assert done.action == "created" and done.endpoint_id == endpoint.id
        assert sorted(endpoint.enabled_events) == handled_events() == sorted(STRIPE_EVENT_HANDLERS)
        # And a real top-up's event arrives signed with the secret now in SSM, which the function accepts
        gateway = StripeGateway("sk_test_local", stripe_base_url, webhook_secret=stored_secret(ssm))
        customer, card = customer_with_saved_card(gateway, stripe_base_url)
        intent = gateway.charge_saved_card(customer, card, 1200, "USD", account_id="acc-w", topup_id="top-w",
                                           idempotency_key=f"topup:{uuid.uuid4().hex}:charge")
        body, signature = receiver.wait_for(intent.id)
        assert gateway.parse_webhook(body, signature, now=int(time.time())).type == "payment_intent.succeeded"


def test_stripe_webhook__run_again_updates_the_same_endpoint_and_keeps_the_secret(stripe: Any, ssm: Any) -> None:
    # Given the endpoint registered once, its events since narrowed by hand in the dashboard
    url = f"https://sms-{uuid.uuid4().hex[:6]}.example.com/api/v1/webhooks/stripe"
    first = register(stripe, ssm, PREFIX, url, "rehearsal")
    secret = stored_secret(ssm)
    stripe.v1.webhook_endpoints.update(first.endpoint_id, params={"enabled_events": ["charge.refunded"]})
    # When the command runs again
    again = register(stripe, ssm, PREFIX, url, "rehearsal")
    # Then it updated that endpoint (no second one), restored the events, and left the secret alone
    [endpoint] = endpoints_at(stripe, url)
    assert (again.action, again.endpoint_id) == ("updated", first.endpoint_id)
    assert sorted(endpoint.enabled_events) == handled_events()
    assert stored_secret(ssm) == secret


def test_stripe_webhook__a_secret_missing_from_ssm_makes_a_new_endpoint_and_drops_the_old(
        stripe: Any, ssm: Any) -> None:
    # Given an endpoint whose secret never reached SSM (or was deleted), and a stray duplicate of it
    url = f"https://sms-{uuid.uuid4().hex[:6]}.example.com/api/v1/webhooks/stripe"
    old = register(stripe, ssm, PREFIX, url, "rehearsal")
    stray = stripe.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})
    ssm.delete_parameter(Name=PARAMETER)
    # When the command runs
    done = register(stripe, ssm, PREFIX, url, "rehearsal")
    # Then one endpoint is left at the URL, a new one, whose secret is in SSM
    [endpoint] = endpoints_at(stripe, url)
    assert (done.action, endpoint.id) == ("recreated", done.endpoint_id)
    assert set(done.deleted) == {old.endpoint_id, stray.id}
    assert stored_secret(ssm).startswith("whsec_")


@pytest.mark.parametrize("base", ["http://sms.example.com/api/", "ftp://x", "https://"])
def test_webhook_url__refuses_what_stripe_cannot_call(base: str) -> None:
    from infra.aws import Stop
    from infra.stripe_webhook import webhook_url

    with pytest.raises(Stop):
        webhook_url(base)


def test_webhook_url__is_under_the_stage_prefix() -> None:
    from infra.stripe_webhook import webhook_url

    assert webhook_url("https://abc.execute-api.us-east-1.amazonaws.com/api/") == (
        "https://abc.execute-api.us-east-1.amazonaws.com/api/v1/webhooks/stripe")


def _stack_with_endpoint(url: str) -> None:
    template = {"Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": "/marker", "Type": "String", "Value": "x"}}}, "Outputs": {"EndpointURL": {"Value": url}}}
    boto3.client("cloudformation", region_name="us-east-1").create_stack(StackName="sms-rooms-dev",
                                                                        TemplateBody=json.dumps(template))


def test_run_for_stage__takes_the_url_from_the_stack_and_the_key_from_ssm(
        ssm: Any, stripe_base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import infra.stripe_webhook as command

    # Given the dev stack deployed at its execute-api URL, and the stage's Stripe key in SSM
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    base = f"https://{uuid.uuid4().hex[:10]}.execute-api.us-east-1.amazonaws.com/api/"
    _stack_with_endpoint(base)
    ssm.put_parameter(Name="/sms-rooms/dev/STRIPE_SECRET_KEY", Value="sk_test_" + uuid.uuid4().hex,
                      Type="SecureString")
    monkeypatch.setattr(command, "stripe_client", lambda key: stripe_client(key, stripe_base_url))
    # When the operator runs it for the stage
    done = command.run_for_stage("dev", None)
    # Then the endpoint is the stage's webhook under the stage prefix, and its secret is in the stage's path
    assert done["url"] == base + "v1/webhooks/stripe"
    assert done["secret_parameter"] == "/sms-rooms/dev/STRIPE_WEBHOOK_SECRET"
    assert stored_secret_of(ssm, done["secret_parameter"]) not in json.dumps(done)


def stored_secret_of(ssm: Any, name: str) -> str:
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


@pytest.mark.parametrize("key", [None, "sk_test_local", " SK_TEST_LOCAL "])
def test_run_for_stage__a_missing_or_published_stripe_key_stops_it(ssm: Any, monkeypatch: pytest.MonkeyPatch,
                                                                    key: str | None) -> None:
    from infra.aws import Stop
    from infra.stripe_webhook import run_for_stage

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _stack_with_endpoint("https://abc.execute-api.us-east-1.amazonaws.com/api/")
    if key is not None:
        ssm.put_parameter(Name="/sms-rooms/dev/STRIPE_SECRET_KEY", Value=key, Type="SecureString")
    with pytest.raises(Stop, match="STRIPE_SECRET_KEY"):
        run_for_stage("dev", None)
