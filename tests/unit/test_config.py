"""Settings: local defaults of API.md, deployed overrides, secrets from SSM."""
from __future__ import annotations

import boto3
from moto import mock_aws

from chalicelib.config import secrets_from_parameter_store, settings_from_env


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
