"""Settings: local defaults of API.md, deployed overrides, secrets from SSM."""
from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import (
    LOCAL_VALUES,
    REQUIRED_SETTINGS,
    Misconfigured,
    SettingError,
    configuration_problems,
    get_environment_settings,
    secrets_from_parameter_store,
    settings_from_env,
)


def test_settings_from_env__local_defaults_match_the_public_contract():
    # When nothing is set
    s = settings_from_env({})
    # Then the local stack's ports of API.md are used, with the simulator as the partner
    assert s.dynamodb_endpoint == "http://127.0.0.1:8001"
    assert s.stripe_api_base == "http://127.0.0.1:8420"
    assert s.public_base_url == "http://127.0.0.1:8000"
    assert [p.base_url for p in s.partners] == ["http://127.0.0.1:8002/stubs/handler_api.php"]
    assert s.mail_outbox_dir == ".local/outbox"


def test_settings_from_env__deployed_stage_has_no_local_endpoints():
    # When a deployed stage's environment is read (.chalice/config.json blanks the local endpoints)
    s = settings_from_env({"STAGE": "prod", "DYNAMODB_ENDPOINT": "", "STRIPE_API_BASE": "", "MAIL_OUTBOX_DIR": ""})
    # Then AWS itself, Stripe itself and SES are used, with the stage's table prefix
    assert s.dynamodb_endpoint is None
    assert s.stripe_api_base is None
    assert s.mail_outbox_dir is None
    assert s.table_prefix == "smsrooms-prod-"
    assert s.partners == ()


def test_secrets_from_parameter_store__reads_every_secret_under_the_prefix_decrypted():
    with mock_aws():
        # Given the stage's secrets in SSM, one of them encrypted
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/sms-rooms/prod/STRIPE_SECRET_KEY", Value="sk_live_x", Type="SecureString")
        ssm.put_parameter(Name="/sms-rooms/prod/STRIPE_WEBHOOK_SECRET", Value="whsec_x", Type="SecureString")
        ssm.put_parameter(Name="/sms-rooms/dev/STRIPE_SECRET_KEY", Value="sk_test_other", Type="String")
        # When the prod prefix is read
        found = secrets_from_parameter_store("/sms-rooms/prod/", "us-east-1")
    # Then exactly prod's secrets come back, by setting name, in clear
    assert found == {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
    assert settings_from_env({"STAGE": "prod", **found}).stripe_secret_key == "sk_live_x"


def _deployed_env(**overrides: str) -> dict[str, str]:
    env = {"STAGE": "prod", "PUBLIC_BASE_URL": "https://sms.example.com", "MAIL_FROM": "SMS Rooms <no-reply@ex.com>",
           "SUPPORT_EMAIL": "support@ex.com",
           "STRIPE_SECRET_KEY": "sk_live_" + "a1" * 12, "STRIPE_PUBLISHABLE_KEY": "pk_live_" + "b2" * 12,
           "STRIPE_WEBHOOK_SECRET": "whsec_" + "c3" * 12,
           "PARTNERS_JSON": json.dumps([{"name": "p", "base_url": "https://p.example/h", "api_key": "e5" * 12,
                                         "push_secret": "d4" * 12}])}
    return {**env, **overrides}


def _published_in_the_repository() -> dict[str, str]:
    """Every Stripe-looking literal and local default written anywhere in the repository, by the setting it fits."""
    root = Path(__file__).resolve().parents[2]
    found: dict[str, str] = {}
    for path in [*root.glob("*.md"), *(p for d in ("chalicelib", "tests", "infra", "bin", "bench", "docs")
                                       for p in (root / d).rglob("*") if p.suffix in {".py", ".md", ".json", ".js"})]:
        for literal in re.findall(r"\b(?:[spr]k_(?:test|live)_\w*|whsec_\w*)", path.read_text(errors="replace")):
            setting = {"s": "STRIPE_SECRET_KEY", "r": "STRIPE_SECRET_KEY", "p": "STRIPE_PUBLISHABLE_KEY",
                       "w": "STRIPE_WEBHOOK_SECRET"}[literal[0]]
            found[literal] = setting
    return found


def test_settings_from_env__a_deployed_stage_never_gets_a_local_value():
    # When a deployed stage lacks every secret
    s = settings_from_env({"STAGE": "prod"})
    # Then its secrets are empty, not the local stage's published ones
    assert (s.stripe_secret_key, s.stripe_publishable_key, s.stripe_webhook_secret,
            s.mail_from, s.public_base_url, s.partners) == ("", "", "", "", "", ())


def test_configuration_problems__real_values_pass():
    assert configuration_problems(_deployed_env()) == ()


@pytest.mark.parametrize("name", REQUIRED_SETTINGS)
@pytest.mark.parametrize("attack", ["missing", "", " \t\n", "published", "PUBLISHED", " published\n"])
def test_configuration_problems__blank_or_published_is_refused_naming_the_setting(name: str, attack: str):
    # Given a deployed stage whose setting is missing, blank, or a value published here in any case or padding
    published = {**LOCAL_VALUES, "PARTNERS_JSON": "sim-key", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}[name]
    env = _deployed_env()
    if attack == "missing":
        del env[name]
    else:
        env[name] = attack.replace("published", published).replace("PUBLISHED", published.swapcase())
    # When the settings are checked
    problems = configuration_problems(env)
    # Then exactly that setting is named, and never its value
    assert [p.setting for p in problems] == [name]
    assert published not in str(Misconfigured(problems)) or attack == "missing"


def test_configuration_problems__every_secret_looking_literal_in_the_repository_is_refused():
    # Given every Stripe key or signing secret written anywhere in this repository
    literals = _published_in_the_repository()
    assert {"whsec_local", "sk_test_local", "pk_test_local"} <= set(literals)
    # When each is set as the setting it looks like / Then each is refused
    accepted = [lit for lit, name in literals.items() if not configuration_problems(_deployed_env(**{name: lit}))]
    assert accepted == []


def test_configuration_problems__a_partner_with_the_simulator_key_is_refused():
    partners = json.dumps([{"name": "sim", "base_url": "https://p.example/h", "api_key": " SIM-KEY "}])
    assert [str(p) for p in configuration_problems(_deployed_env(PARTNERS_JSON=partners))] == [
        "PARTNERS_JSON gives partner 'sim' a missing or published api_key"]


def test_configuration_problems__a_partner_with_an_unknown_protocol_is_refused_naming_the_known_ones():
    partners = json.dumps([{"name": "up", "protocol": "sms_activate", "base_url": "https://p.example/h",
                            "api_key": "e5" * 12}])
    assert [str(p) for p in configuration_problems(_deployed_env(PARTNERS_JSON=partners))] == [
        "PARTNERS_JSON gives partner 'up' a protocol that is not one of 'sms-activate', '5sim', 'smshub_agent'"]


@pytest.mark.parametrize("raw", ["[]", "{", '{"name": "x"}', '[{"name": "x"}]', "[1]", "[" * 100_000 + "]" * 100_000])
def test_configuration_problems__partners_that_are_not_a_list_of_partners_are_refused(raw: str):
    assert [p.setting for p in configuration_problems(_deployed_env(PARTNERS_JSON=raw))] == ["PARTNERS_JSON"]


def test_configuration_problems__a_test_publishable_key_with_a_live_secret_key_is_refused():
    env = _deployed_env(STRIPE_PUBLISHABLE_KEY="pk_test_" + "f6" * 12)
    assert [p.setting for p in configuration_problems(env)] == ["STRIPE_PUBLISHABLE_KEY"]


def test_configuration_problems__the_local_stage_inside_lambda_is_refused():
    # Given a Lambda whose STAGE is missing (it would default to local, with its published values)
    problems = configuration_problems({"AWS_LAMBDA_FUNCTION_NAME": "sms-rooms-prod-APIHandler"})
    # Then it refuses, naming STAGE; the local stack itself (no Lambda) is fine
    assert [p.setting for p in problems] == ["STAGE"]
    assert configuration_problems({}) == ()


def test_configuration_problems__a_number_in_other_scripts_digits_is_named_and_the_import_still_works(
        monkeypatch: pytest.MonkeyPatch):
    # Given a minimum top-up written in fullwidth and Arabic-Indic digits (int() would read it as 100)
    monkeypatch.setenv("TOPUP_MIN_CENTS", "１٠٠")
    # Then it is a named problem, and binding the tables at import time does not trip on it
    assert [str(p) for p in configuration_problems(_deployed_env(TOPUP_MIN_CENTS="１٠٠"))] == [
        "TOPUP_MIN_CENTS must be a whole number"]
    assert get_environment_settings().table_prefix == "smsrooms-local-"


@pytest.mark.parametrize("ttl", ["0", "-5", "nan", "inf", "3601", "٥"])
def test_configuration_problems__a_secrets_ttl_that_would_never_rotate_is_refused(ttl: str):
    assert [p.setting for p in configuration_problems(_deployed_env(SECRETS_TTL_SECONDS=ttl))] == [
        "SECRETS_TTL_SECONDS"]


@pytest.mark.parametrize("raw", ["0", "-4", "1001", "٣٢", "many"])
def test_settings_from_env__write_shards_must_be_a_count_from_1_to_1000(raw: str):
    with pytest.raises(SettingError) as refused:
        settings_from_env({"STAGE": "local", "WRITE_SHARDS": raw})
    assert "WRITE_SHARDS" in str(refused.value)


def test_configuration_problems__a_mail_folder_outside_the_local_stage_is_refused():
    # Given a deployed stage told to write mail to a folder (it would never leave the function's disk)
    problems = configuration_problems(_deployed_env(MAIL_OUTBOX_DIR="/tmp/outbox"))
    # Then it is named, rather than every email silently kept
    assert [str(p) for p in problems] == ["MAIL_OUTBOX_DIR is for the local stage only: unset it"]
