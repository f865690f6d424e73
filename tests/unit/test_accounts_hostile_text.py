"""Passwords, tokens and emails holding an unpaired surrogate or a NUL: a 422 naming the field, whether or not the
account exists (nothing to enumerate), never a 500 from the password hasher or DynamoDB's encoder."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from tests.unit.accounts_support import PASSWORD, Harness

HOSTILE = ["\ud800", "pass\udfffword-long-enough", "nul\x00in-the-middle-long"]


def _post(client: Client, path: str, body: dict[str, str]) -> tuple[int, dict]:
    reply = client.http.post(path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return reply.status_code, json.loads(reply.body)


@pytest.mark.parametrize("password", HOSTILE)
def test_login__a_hostile_password_is_the_same_422_for_a_known_and_an_unknown_email(rest_client, h: Harness, password):
    # Given Ann's account, and an address that has none
    h.verified()
    # When someone signs in to each with a password no one can have
    known = _post(rest_client, "/v1/auth/login", {"email": "ann@example.com", "password": password})
    unknown = _post(rest_client, "/v1/auth/login", {"email": "nobody@example.com", "password": password})
    # Then both get the same clear refusal naming the field: nothing tells the two addresses apart
    assert known == unknown
    assert known[0] == 422 and known[1]["error"]["details"] == {"field": "password"}


@pytest.mark.parametrize(("field", "value"), [("password", HOSTILE[1]), ("password", HOSTILE[2]),
                                              ("email", "ann\ud800@example.com")])
def test_register__hostile_text_is_422_naming_the_field(rest_client, field, value):
    body = {"email": "ann@example.com", "password": PASSWORD, "agreement_version": "1"} | {field: value}
    status, reply = _post(rest_client, "/v1/auth/register", body)
    assert status == 422 and reply["error"]["details"] == {"field": field}


@pytest.mark.parametrize("path", ["/v1/auth/verify", "/v1/auth/reset-password"])
def test_one_time_token__a_hostile_token_is_422_not_a_500(rest_client, path):
    status, reply = _post(rest_client, path, {"token": "\ud800", "password": PASSWORD})
    assert status == 422 and reply["error"]["details"] == {"field": "token"}
