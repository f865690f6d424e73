"""The local stack as a newcomer meets it: every part answers, errors are 4xx envelopes, data survives a restart."""
from __future__ import annotations

import tempfile
from pathlib import Path

import requests

from infra.local.stack import Ports, Stack


def test_health__answers_ok_over_http(stack):
    # When the app's health route is called
    reply = requests.get(f"{stack.app_url}/health", timeout=5)
    # Then it says ok
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


def test_stack__every_part_answers_on_its_port(stack):
    # Then DynamoDB Local, localstripe and the partner simulator all answer
    assert requests.post(stack.dynamodb_url, timeout=5).status_code == 400  # DynamoDB wants a signed request
    assert requests.get(f"{stack.stripe_url}/v1/customers", auth=("sk_test_local", ""), timeout=5).ok
    assert requests.get(f"{stack.simulator_url}/stubs/handler_api.php",
                        params={"api_key": "sim-key", "action": "getBalance"}, timeout=5).text.startswith(
        "ACCESS_BALANCE:")


def test_agreement__current_version_and_text_are_served(stack):
    # When the agreement is asked for
    body = requests.get(f"{stack.app_url}/v1/agreement", timeout=5).json()
    # Then the current version and the text of the user agreement come back
    assert body["version"] == "1"
    assert "User Agreement" in body["text"]
    assert "6.4." in body["text"]


def test_agreement__unknown_version_is_404_envelope(stack):
    reply = requests.get(f"{stack.app_url}/v1/agreement/99", timeout=5)
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"


def test_dynamodb_local__data_survives_a_restart():
    # Given DynamoDB Local on disk with one item written through the models
    from chalicelib.config import settings_from_env
    from chalicelib.store.base import bind_models, create_tables
    from chalicelib.store.runtime import RuntimeSetting

    data_dir = Path(tempfile.mkdtemp(prefix="smsrooms-persist-"))
    first = Stack(ports=Ports.free(), data_dir=data_dir, with_app=False, with_scheduler=False)
    first.start()
    try:
        bind_models(settings_from_env(first.env()))
        create_tables()
        RuntimeSetting("survivor", value='"yes"', updated_at=1).save()
    finally:
        first.stop()
    # When the stack is stopped and started again on the same data folder
    second = Stack(ports=Ports.free(), data_dir=data_dir, with_app=False, with_scheduler=False)
    second.start()
    try:
        bind_models(settings_from_env(second.env()))
        # Then the item is still there
        assert RuntimeSetting.get("survivor").value == '"yes"'
    finally:
        second.stop()


def test_local_host__overlapping_requests_each_keep_their_own_credentials(stack, stack_settings):
    # Given two customers, and one app worker whose threads serve overlapping requests (the test stack's host)
    from concurrent.futures import ThreadPoolExecutor

    from tests.support import customer_with_key

    first, second = customer_with_key(stack_settings), customer_with_key(stack_settings)

    def me(key: str) -> tuple[int, str]:
        answer = requests.get(f"{stack.app_url}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        return answer.status_code, answer.json().get("account_id", "")

    # When both read their account at the same time, many times over, with unauthenticated reads in between
    keys = [first.api_key, second.api_key, ""] * 40
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(me, keys))

    # Then each request was answered for its own caller: never another's account, never a 401 for a good key
    expected = {first.api_key: (200, first.account_id), second.api_key: (200, second.account_id), "": (401, "")}
    wrong = [(key[:8], got) for key, got in zip(keys, answers, strict=True) if got != expected[key]]
    assert wrong == []


def test_local_host__a_client_that_asks_to_close_is_told_so_and_its_next_request_is_answered(stack):
    # Given one client session that asks the server to close each connection after its answer (HTTP/1.1 close)
    session = requests.Session()
    # When it makes several requests in a row
    replies = [session.get(f"{stack.app_url}/health", headers={"Connection": "close"}, timeout=10) for _ in range(20)]
    # Then each answer says the connection closes (RFC 9112 9.6), so the client never reuses a closed connection,
    # and every request is answered: none fails with "Remote end closed connection without response"
    assert all(reply.status_code == 200 for reply in replies)
    assert all(reply.headers.get("Connection", "").lower() == "close" for reply in replies)
