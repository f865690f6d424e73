"""Infrastructure as code: tables built from the models, the packaged stack lints clean, each Lambda role covers it."""
from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from pynamodb.models import Model

from chalicelib.config import settings_from_env
from chalicelib.providers.transport import HttpPolicy
from chalicelib.store.base import registered_models
from infra.template import (
    ADMIN_LOGICAL_ID,
    ROOT,
    SECRET_SETTINGS,
    build_template,
    stage_environment,
    stage_settings,
    table_logical_id,
    write_template,
)
from tests.unit.infra_support import allows, arn, packaged_dev

CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"

# What PynamoDB sends for Model.get/save/update/delete/query/scan/batch_get/batch_write, and what IAM checks
# for each item of a TransactWrite/TransactGet (those two calls have no IAM action of their own).
PYNAMODB_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
                          "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                          "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem")
PYNAMODB_INDEX_ACTIONS = ("dynamodb:Query", "dynamodb:Scan")


@pytest.fixture(scope="module")
def packaged() -> dict[str, Any]:
    path, template = packaged_dev()
    return {"path": path, "template": template}


def _schema_from_table(props: dict[str, Any]) -> dict[str, Any]:
    def index(i: dict[str, Any]) -> tuple[Any, ...]:
        return i["IndexName"], _keys(i["KeySchema"]), i["Projection"]

    return {"attributes": {(d["AttributeName"], d["AttributeType"]) for d in props["AttributeDefinitions"]},
            "keys": _keys(props["KeySchema"]),
            "gsi": sorted(index(i) for i in props.get("GlobalSecondaryIndexes", [])),
            "lsi": sorted(index(i) for i in props.get("LocalSecondaryIndexes", [])),
            "ttl": props.get("TimeToLiveSpecification", {}).get("AttributeName")}


def _schema_from_model(model: type[Model]) -> dict[str, Any]:
    schema = model._get_schema()

    def index(i: Any) -> tuple[Any, ...]:
        return i["index_name"], _keys(i["key_schema"]), dict(i["projection"])

    ttl = model._ttl_attribute()
    return {"attributes": {(d["AttributeName"], d["AttributeType"]) for d in schema["attribute_definitions"]},
            "keys": _keys(schema["key_schema"]),
            "gsi": sorted(index(i) for i in schema["global_secondary_indexes"]),
            "lsi": sorted(index(i) for i in schema["local_secondary_indexes"]),
            "ttl": ttl.attr_name if ttl else None}


def _keys(key_schema: Any) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in key_schema}


def _tables(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]


def _lambda_env(template: dict[str, Any]) -> dict[str, str]:
    return template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]


def test_build_template__every_model_has_a_table_with_its_keys_indexes_and_ttl():
    # Given the registered PynamoDB models
    models = registered_models()
    # When the dev template is built from them
    resources = build_template("dev")["Resources"]
    # Then each model's table has exactly the schema PynamoDB would create
    for model in models:
        table = resources[table_logical_id(model)]
        assert table["Type"] == "AWS::DynamoDB::Table"
        assert _schema_from_table(table["Properties"]) == _schema_from_model(model), model.__name__
        assert table["Properties"]["KeySchema"][0]["KeyType"] == "HASH"
    assert sum(r["Type"] == "AWS::DynamoDB::Table" for r in resources.values()) == len(models)


def test_build_template__prod_tables_survive_stack_deletion_and_dev_tables_do_not():
    # Given the templates of both deployed stages
    prod, dev = build_template("prod")["Resources"], build_template("dev")["Resources"]
    # When we look at each table's deletion policy
    table_ids = [table_logical_id(m) for m in registered_models()]
    # Then prod keeps its money data and dev cleans up after itself
    assert all(prod[t]["DeletionPolicy"] == "Retain" and prod[t]["Properties"]["DeletionProtectionEnabled"]
               for t in table_ids)
    assert all(dev[t]["DeletionPolicy"] == "Delete" for t in table_ids)


def test_build_template__unknown_stage_is_refused_with_the_known_ones():
    # Given a stage that .chalice/config.json does not define
    # When the template is built for it
    with pytest.raises(ValueError) as refused:
        build_template("qa")
    # Then the operator is told which stages exist
    assert "dev" in str(refused.value) and "prod" in str(refused.value)


def test_build_template__standalone_resources_pass_cfn_lint(tmp_path):
    # Given the prod resources written on their own (to deploy beside `chalice deploy`)
    path = write_template(tmp_path / "resources-prod.json", build_template("prod"))
    # When cfn-lint validates them
    result = subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True)
    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


def test_package__merged_stack_passes_cfn_lint(packaged):
    # Given the dev stage packaged offline with the resources merged in
    # When cfn-lint validates it
    result = subprocess.run([str(CFN_LINT), str(packaged["path"])], capture_output=True, text=True)
    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


def test_package__lambda_table_prefix_names_every_table(packaged):
    # Given the packaged stack
    template = packaged["template"]
    # When the Lambda's TABLE_PREFIX is combined with each model's short name
    prefix = _lambda_env(template)["TABLE_PREFIX"]
    names = {r["Properties"]["TableName"] for r in _tables(template)}
    # Then those are exactly the tables the stack creates
    assert names == {prefix + m.Meta.short_name for m in registered_models()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("role_id", ["ApiHandlerRole", "AdminRole"])
def test_package__api_and_admin_roles_allow_every_pynamodb_call_on_every_table_and_index(packaged, role_id):
    # Given the packaged stack and the tables it creates
    template = packaged["template"]
    tables = [r["Properties"] for r in _tables(template)]
    # When each call PynamoDB makes is checked against the role
    missing = [(a, t["TableName"]) for t in tables for a in PYNAMODB_TABLE_ACTIONS
               if not allows(template, role_id, a, arn("dynamodb", f"table/{t['TableName']}"))]
    missing += [(a, f"{t['TableName']}/{i['IndexName']}") for t in tables
                for i in t.get("GlobalSecondaryIndexes", []) + t.get("LocalSecondaryIndexes", [])
                for a in PYNAMODB_INDEX_ACTIONS
                if not allows(template, role_id, a, arn(
                    "dynamodb", f"table/{t['TableName']}/index/{i['IndexName']}"))]
    # Then nothing is refused
    assert missing == []


def test_package__api_role_reaches_its_stage_and_nothing_beyond(packaged):
    # Given the packaged dev stack, deployed in us-east-1 with SenderDomain=example.com
    template = packaged["template"]
    secrets_path = _lambda_env(template)["SECRETS_PARAMETER_PREFIX"].rstrip("/")
    needed = [
        ("ses:SendEmail", arn("ses", "identity/example.com")),
        ("ssm:GetParametersByPath", arn("ssm", f"parameter{secrets_path}")),
        ("ssm:GetParameter", arn("ssm", f"parameter{secrets_path}/STRIPE_SECRET_KEY")),
        ("logs:PutLogEvents", arn("logs", "log-group:/sms-rooms/sms-rooms-dev/api_handler:log-stream:s")),
        ("xray:PutTraceSegments", "*"),
    ]
    beyond = [
        ("ses:SendEmail", arn("ses", "identity/other.example")),
        ("ses:SendEmail", "arn:aws:ses:eu-west-1:123456789012:identity/example.com"),
        ("ssm:GetParameter", arn("ssm", "parameter/sms-rooms/prod/STRIPE_SECRET_KEY")),
        ("dynamodb:GetItem", arn("dynamodb", "table/smsrooms-prod-accounts")),
        ("logs:PutLogEvents", arn("logs", "log-group:/sms-rooms/sms-rooms-dev/admin:log-stream:s")),
        ("cloudwatch:PutMetricData", "*"),
    ]
    # When each is checked against the API function's role
    # Then what it needs is allowed, and other stages, identities, regions and functions' logs are not
    assert [n for n in needed if not allows(template, "ApiHandlerRole", *n)] == []
    assert [b for b in beyond if allows(template, "ApiHandlerRole", *b)] == []


def test_secret_settings__each_parameter_name_is_a_setting_the_app_reads():
    # Given a value for each secret as it would come from its SSM parameter
    values = {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
              "PARTNERS_JSON": json.dumps([{"name": "a", "base_url": "https://a.example/h", "api_key": "k"}])}
    base = stage_settings("dev")
    # When each is laid over the stage's environment
    unchanged = [name for name in SECRET_SETTINGS
                 if settings_from_env({**stage_environment("dev"), name: values[name]}) == base]
    # Then every one of them changes the settings
    assert unchanged == []


def test_package__admin_lambda_is_named_as_bin_admin_invokes_it_and_only_it_is_invokable(packaged):
    # Given the packaged stack
    resources = packaged["template"]["Resources"]
    # When we look at the admin Lambda and at the operators' policy
    admin = resources[ADMIN_LOGICAL_ID]
    statement = resources["AdminCliPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    # Then the Lambda has the chalice-deploy name bin/admin uses, and the policy lets operators invoke just that
    assert admin["Type"] == "AWS::Serverless::Function"
    assert admin["Properties"]["FunctionName"] == "sms-rooms-dev-admin"
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"]["Fn::Sub"].endswith(":function:sms-rooms-dev-admin")


def test_package__the_poll_function_outlives_its_sweep_even_with_unresponsive_partners(packaged):
    # Given the packaged stack, the deployed stages' settings, and a poll read's worst case at an unresponsive
    # partner (every attempt timing out, with the backoffs between them)
    resources = packaged["template"]["Resources"]
    [poll] = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"
              and r["Properties"].get("Handler") == "app.poll_partners"]
    policy = HttpPolicy()
    for stage in ("dev", "prod"):
        settings = stage_settings(stage)
        attempt = settings.partner_connect_timeout_seconds + settings.partner_read_timeout_seconds
        per_partner = (1 + policy.read_retries) * attempt + policy.retry_backoff_seconds * sum(
            range(1 + policy.read_retries))
        # Then the sweep ends within EventBridge's minute and leaves room for one cycle
        assert 0 < settings.poll_every_seconds <= settings.poll_sweep_seconds < 60
        # And the function is not killed in a last cycle that meets three unresponsive partners in a row
        if stage == "dev":  # the stage packaged here
            assert poll["Properties"]["Timeout"] >= settings.poll_sweep_seconds + 3 * per_partner


def test_settings__a_poll_interval_that_is_not_positive_is_refused():
    # Given POLL_EVERY_SECONDS=0 (which would call every partner in a busy loop)
    # When the settings are read / Then they are refused, naming the variable
    with pytest.raises(ValueError, match="POLL_EVERY_SECONDS"):
        settings_from_env({"POLL_EVERY_SECONDS": "0"})
