"""make deploy / smoke / destroy as a first-time operator meets them: one clear line when they cannot go on."""
from __future__ import annotations

import json
import subprocess
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.aws import ROOT, Stop, run
from infra.deploy import check_concurrency, destroy, import_retained_tables, parameter_values, parse_params, upload
from infra.template import build_template, merge_template

# No credentials anywhere botocore looks: environment, files, the instance metadata service.
NO_CREDENTIALS = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE":
                  "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1"}


def _make(target: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    # -o: never reinstall the venv from inside a test
    return subprocess.run(["make", "-s", "-C", str(ROOT), "-o", ".venv/.installed", target, *args],
                          env={**NO_CREDENTIALS, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=60)


def _our_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What our command printed (make's own 'make: *** … Error 1' marker aside)."""
    return [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("make")]


@pytest.mark.parametrize("target", ["deploy", "smoke", "destroy"])
def test_make_target__without_aws_credentials_prints_one_line_and_fails(target, tmp_path):
    # Given a shell with no AWS credentials at all
    # When the operator runs the target for dev
    result = _make(target, tmp_path, "STAGE=dev")
    # Then it fails with one line that says what is missing
    assert result.returncode != 0
    assert _our_lines(result) == [f"{target}: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY (infra/README.md, Prerequisites)"]


def test_make_deploy__without_a_stage_names_the_known_ones(tmp_path):
    # When the operator forgets STAGE
    result = _make("deploy", tmp_path)
    # Then one line lists the stages
    assert result.returncode != 0
    assert _our_lines(result) == ["deploy: STAGE is required: make <target> STAGE=<dev|staging|prod>"]


def test_destroy__prod_refuses_without_the_explicit_confirmation():
    # Given the prod stage, confirmed with the wrong word
    # When it is destroyed / Then it refuses before asking AWS anything, and says how
    with pytest.raises(Stop, match=r"CONFIRM=prod \(its tables are kept\)"):
        destroy("prod", "yes")


def test_deploy__a_missing_required_parameter_stops_naming_it():
    # Given the dev template and a first deploy that gives only the sender domain
    template = merge_template("dev")
    given = parse_params("SenderDomain=example.com", template)
    # When the stack's parameters are assembled / Then the missing one is named with how to pass it
    with pytest.raises(Stop, match=r"^missing parameter StripePublishableKey: pass PARAMS='StripePublishableKey="):
        parameter_values(template, given, previous=set())


def test_deploy__an_update_keeps_what_was_not_given_and_an_unknown_name_is_refused():
    # Given the dev template and a stack that already has its parameters
    template = merge_template("dev")
    # When an update gives nothing new
    values = parameter_values(template, {}, previous={"SenderDomain", "StripePublishableKey"})
    # Then the previous values are kept, and a misspelt parameter is refused naming it
    assert {"ParameterKey": "SenderDomain", "UsePreviousValue": True} in values
    with pytest.raises(Stop, match="unknown parameter SenderDomian"):
        parse_params("SenderDomian=example.com", template)


class Session:
    """What deploy asks of a boto3 session: its region and clients (moto's, or a recorder for CloudFormation)."""

    def __init__(self, cloudformation: Any = None) -> None:
        self.region_name = "eu-west-1"
        self.cloudformation = cloudformation

    def client(self, name: str) -> Any:
        if name == "cloudformation" and self.cloudformation is not None:
            return self.cloudformation
        return boto3.client(name, region_name=self.region_name)


class ChangeSets:
    """CloudFormation as far as a change set goes: records what deploy asked for, and every wait succeeds."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.executed: list[str] = []

    def create_change_set(self, **spec: Any) -> None:
        self.created.append(spec)

    def execute_change_set(self, StackName: str, ChangeSetName: str) -> None:
        self.executed.append(ChangeSetName)

    def get_waiter(self, name: str) -> Any:
        return type("Waiter", (), {"wait": lambda self, **_: None})()


def test_upload__makes_a_private_bucket_and_points_every_function_at_the_uploaded_zip(_moto, tmp_path):
    # Given a packaged stack (two functions sharing one zip) and an account without an artifacts bucket
    _moto.reset()
    sam = tmp_path / "sam.json"
    function = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}}
    sam.write_text(json.dumps({"Resources": {"A": function, "B": function}}))
    (tmp_path / "deployment.zip").write_bytes(b"zip bytes")
    # When it is uploaded
    url, template = upload(Session(), "123456789012", "dev", sam)
    # Then the bucket exists, private, with the zip and the template the change set will read
    s3, bucket = boto3.client("s3", region_name="eu-west-1"), "sms-rooms-artifacts-123456789012-eu-west-1"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    [uri] = {r["Properties"]["CodeUri"] for r in template["Resources"].values()}
    assert uri.startswith(f"s3://{bucket}/dev/") and uri.endswith(".zip")
    assert s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read() == b"zip bytes"
    assert url.startswith(f"https://{bucket}.s3.eu-west-1.amazonaws.com/dev/")


def test_import_retained_tables__a_recreated_prod_stack_adopts_the_tables_its_last_stack_left(_moto):
    # Given prod's template and one of its tables left behind by a destroyed stack
    _moto.reset()
    template = build_template("prod")
    ledger = next(k for k, r in template["Resources"].items()
                  if r.get("Properties", {}).get("TableName") == "smsrooms-prod-ledger")
    props = template["Resources"][ledger]["Properties"]
    boto3.client("dynamodb", region_name="eu-west-1").create_table(
        TableName="smsrooms-prod-ledger", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"], KeySchema=props["KeySchema"])
    cloudformation = ChangeSets()
    # When deploy looks for retained tables
    imported = import_retained_tables(Session(cloudformation), "prod", template)
    # Then an IMPORT change set adopts exactly that table, by name, kept on deletion, and is executed
    [change] = cloudformation.created
    assert imported and change["ChangeSetType"] == "IMPORT"
    assert change["ResourcesToImport"] == [{"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": ledger,
                                            "ResourceIdentifier": {"TableName": "smsrooms-prod-ledger"}}]
    body = json.loads(change["TemplateBody"])
    assert list(body["Resources"]) == [ledger] and body["Resources"][ledger]["DeletionPolicy"] == "Retain"
    assert cloudformation.executed == [change["ChangeSetName"]]


class Limited(Session):
    """An account whose Lambda concurrency limit is `limit` (new accounts often start far below 1,000)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def client(self, name: str) -> Any:
        assert name == "lambda"
        return type("Lambda", (), {"get_account_settings": lambda _: {
            "AccountLimit": {"ConcurrentExecutions": self.limit}}})()


def test_check_concurrency__a_stack_the_account_cannot_reserve_for_stops_before_anything_is_created():
    # Given the dev template and an account limited to 200 concurrent executions
    template = merge_template("dev")
    # When the default reservation is checked / Then it stops, saying what to ask for or pass
    with pytest.raises(Stop, match=r"limit is 200: the stack reserves \d+ and AWS keeps 100 unreserved"):
        check_concurrency(Limited(200), "dev", {}, template)
    # And without the API's reservation it fits, as it does on a default account of 1,000
    check_concurrency(Limited(200), "dev", {"ApiReservedConcurrency": "0"}, template)
    check_concurrency(Limited(1000), "dev", {}, template)


def test_run__an_aws_refusal_midway_is_one_line_and_a_failure(capsys):
    # Given a step that AWS refuses (the operator may create stacks but not buckets)
    def refused() -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed: s3:CreateBucket"}},
                          "CreateBucket")

    # When the command runs it / Then it exits 1 with one line naming the refusal, no traceback
    with pytest.raises(SystemExit) as exited:
        run("deploy", refused)
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "deploy: AWS refused: An error occurred (AccessDenied) when calling the CreateBucket operation: "
        "not allowed: s3:CreateBucket"]
