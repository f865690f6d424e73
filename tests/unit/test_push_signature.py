"""Partner push signatures: the partner's own secret over a timestamp and the body, inside a window, rotatable."""
from __future__ import annotations

import json

import pytest

from chalicelib.config import configuration_problems, settings_from_env
from chalicelib.domain.push_signature import PushRefused, check_push, push_signature

NOW = 1_800_000_000
BODY = b'{"activationId":42,"text":"code 1234"}'


def _check(secrets: tuple[str, ...], timestamp: object, signature: str, *, now: float = NOW,
           body: bytes = BODY) -> None:
    check_push(secrets, str(timestamp), signature, body, now=now, tolerance_seconds=300)


def test_check_push__a_fresh_push_signed_with_the_partners_secret_is_trusted():
    _check(("s1",), NOW - 10, push_signature("s1", NOW - 10, BODY))


@pytest.mark.parametrize("age", [301, -301, 10**6])
def test_check_push__a_push_outside_the_window_is_refused(age):
    with pytest.raises(PushRefused, match="window"):
        _check(("s1",), NOW - age, push_signature("s1", NOW - age, BODY))


def test_check_push__another_partners_secret_or_another_body_is_refused():
    with pytest.raises(PushRefused, match="does not match"):
        _check(("s1",), NOW, push_signature("s2", NOW, BODY))
    with pytest.raises(PushRefused, match="does not match"):
        _check(("s1",), NOW, push_signature("s1", NOW, BODY), body=BODY + b" ")


def test_check_push__the_previous_secret_is_trusted_during_a_rotation_and_a_retired_one_never():
    _check(("new", "old"), NOW, push_signature("old", NOW, BODY))
    with pytest.raises(PushRefused):
        _check(("new",), NOW, push_signature("old", NOW, BODY))


@pytest.mark.parametrize(("timestamp", "signature"), [
    ("", "a" * 64), ("²" + str(NOW)[1:], "a" * 64), ("1e9", "a" * 64), ("-5", "a" * 64), ("9" * 40, "a" * 64),
    (str(NOW), ""), (str(NOW), "A" * 64), (str(NOW), "a" * 63), (str(NOW), "\ud800" * 64)])
def test_check_push__malformed_headers_are_refused_without_an_error(timestamp, signature):
    with pytest.raises(PushRefused, match="malformed"):
        _check(("s1",), timestamp, signature)


def test_check_push__a_partner_without_a_secret_accepts_nothing():
    with pytest.raises(PushRefused, match="no push secret"):
        _check((), NOW, push_signature("", NOW, BODY))


def _partners(*entries: dict[str, object]) -> str:
    return json.dumps([{"base_url": "https://p.example/h", "api_key": "k", **e} for e in entries])


def test_settings__two_partners_sharing_a_push_secret_are_refused():
    with pytest.raises(ValueError, match="push_secret"):
        settings_from_env({"PARTNERS_JSON": _partners({"name": "a", "push_secret": "x"},
                                                      {"name": "b", "push_secret_previous": "x"})})


def test_settings__push_secrets_are_kept_out_of_the_settings_repr():
    settings = settings_from_env({"PARTNERS_JSON": _partners({"name": "a", "push_secret": "very-secret-1",
                                                              "push_secret_previous": "very-secret-0"})})
    assert settings.partners[0].push_secrets == ("very-secret-1", "very-secret-0")
    assert "very-secret" not in repr(settings)


def test_settings__only_the_local_stage_has_a_default_push_secret():
    assert settings_from_env({"STAGE": "local"}).partners[0].push_secret
    assert settings_from_env({"STAGE": "prod"}).partners == ()


@pytest.mark.parametrize("secret", ["sim-push-secret", "SIM-PUSH-SECRET", "short", "sixteen chars w/ spaces"])
def test_configuration_problems__a_published_or_weak_push_secret_stops_a_deployed_stage(secret):
    env = {"STAGE": "prod", "PARTNERS_JSON": _partners({"name": "a", "api_key": "k" * 24, "push_secret": secret})}
    problems = [str(p) for p in configuration_problems(env) if p.setting == "PARTNERS_JSON"]
    assert problems and "push_secret" in problems[0] and secret not in problems[0]
