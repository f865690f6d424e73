"""make deploy / make destroy: package the stage, upload it, create or update its one stack; or tear it down.

    .venv/bin/python -m infra.deploy deploy --stage dev --params "SenderDomain=example.com StripePublishableKey=pk_…"
    .venv/bin/python -m infra.deploy destroy --stage prod --confirm prod

boto3 only (no AWS CLI needed). Parameters not given keep their previous value on an update and their template
default otherwise; a required one that has neither stops the deploy naming it. A prod stack deleted earlier left
its tables (DeletionPolicy Retain): deploy imports them into the new stack before creating the rest.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from infra.aws import PROTECTED_STAGES, ROOT, Stop, require_stage, run, session, stack_name, stack_outputs

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
UNRESERVED_FLOOR = 100  # Lambda refuses a reservation that leaves the account fewer unreserved executions


def parse_params(text: str, template: dict[str, Any]) -> dict[str, str]:
    """`Name=value Name2=value2` (shell quoting) checked against the template's parameters."""
    params: dict[str, str] = {}
    for item in shlex.split(text or ""):
        name, sep, value = item.partition("=")
        if not sep:
            raise Stop(f"parameter {item!r} is not Name=value")
        if name not in template["Parameters"]:
            raise Stop(f"unknown parameter {name} (known: {', '.join(sorted(template['Parameters']))})")
        params[name] = value
    return params


def parameter_values(template: dict[str, Any], given: dict[str, str], previous: set[str]) -> list[dict[str, Any]]:
    """CloudFormation's Parameters: given values, else the stack's previous ones; a required one missing stops."""
    values = []
    for name, spec in template["Parameters"].items():
        if name in given:
            values.append({"ParameterKey": name, "ParameterValue": given[name]})
        elif name in previous:
            values.append({"ParameterKey": name, "UsePreviousValue": True})
        elif "Default" not in spec:
            raise Stop(f"missing parameter {name}: pass PARAMS='{name}=…' ({spec.get('Description', '')})")
    return values


def check_concurrency(aws: Any, stage: str, given: dict[str, str], template: dict[str, Any]) -> None:
    """A reservation the account cannot give fails the stack half-way; say so before anything is created."""
    from infra.functions import functions

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage].get("lambda_functions", {})
    api = int(given.get("ApiReservedConcurrency", template["Parameters"]["ApiReservedConcurrency"]["Default"]))
    reserved = api + sum(int(config.get(f.name, {}).get("reserved_concurrency", 0)) for f in functions())
    limit = aws.client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    if limit - reserved < UNRESERVED_FLOOR:
        raise Stop(f"the account's Lambda concurrency limit is {limit}: the stack reserves {reserved} and AWS keeps "
                   f"{UNRESERVED_FLOOR} unreserved; ask for a quota increase or pass ApiReservedConcurrency=0")


def warn_if_ses_sandboxed(aws: Any) -> None:
    if not aws.client("sesv2").get_account().get("ProductionAccessEnabled", False):
        print("deploy: note: SES is in the sandbox in this region: mail reaches verified addresses only "
              "(infra/README.md, SES)")


def upload(aws: Any, account: str, stage: str, sam: Path) -> tuple[str, dict[str, Any]]:
    """Put the zip and the template in the artifacts bucket (created if missing); returns the template's URL."""
    s3, region = aws.client("s3"), aws.region_name
    bucket = ensure_bucket(s3, f"sms-rooms-artifacts-{account}-{region}", region)
    template = json.loads(sam.read_text())
    code = sam.with_name("deployment.zip").read_bytes()
    code_key = f"{stage}/{hashlib.sha256(code).hexdigest()}.zip"
    s3.put_object(Bucket=bucket, Key=code_key, Body=code)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{code_key}"
    body = json.dumps(template).encode()
    template_key = f"{stage}/{hashlib.sha256(body).hexdigest()}.template.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    return f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}", template


def ensure_bucket(s3: Any, bucket: str, region: str) -> str:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return bucket
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise Stop(f"artifacts bucket {bucket}: {error}") from None
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "old-packages", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 30}}]})
    print(f"deploy: created artifacts bucket {bucket}")
    return bucket


def described_stack(cloudformation: Any, stage: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name(stage))["Stacks"]
    except ClientError:
        return None
    return dict(stack)


def existing_stack(cloudformation: Any, stage: str) -> dict[str, Any] | None:
    """The stack to update, or None when there is none to update (a failed first attempt is removed)."""
    stack = described_stack(cloudformation, stage)
    # REVIEW_IN_PROGRESS: a first change set was never executed, so the stack is still to be created.
    if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return None
    if stack["StackStatus"] == "ROLLBACK_COMPLETE":  # a first create that failed: nothing to keep
        print(f"deploy: removing {stack_name(stage)}, whose first deploy failed")
        cloudformation.delete_stack(StackName=stack_name(stage))
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack_name(stage))
        return None
    return stack


def import_retained_tables(aws: Any, stage: str, template: dict[str, Any]) -> bool:
    """A protected stage re-created after a destroy: adopt the tables it left, so its money data carries on."""
    dynamodb = aws.client("dynamodb")
    tables = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    left = {k: r for k, r in tables.items() if _table_exists(dynamodb, r["Properties"]["TableName"])}
    if not left:
        return False
    print(f"deploy: importing {len(left)} retained tables into the new stack {stack_name(stage)}")
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": left}
    change = _change_set(aws, stage, "IMPORT", TemplateBody=json.dumps(body), ResourcesToImport=[
        {"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": k,
         "ResourceIdentifier": {"TableName": r["Properties"]["TableName"]}} for k, r in left.items()])
    if change is None:
        raise Stop("CloudFormation found nothing to import from the retained tables")
    _execute(aws, stage, change, "stack_import_complete")
    return True


def _table_exists(dynamodb: Any, name: str) -> bool:
    try:
        dynamodb.describe_table(TableName=name)
        return True
    except dynamodb.exceptions.ResourceNotFoundException:
        return False


def _change_set(aws: Any, stage: str, kind: str, **spec: Any) -> str | None:
    """Create a change set and wait for it; None when there is nothing to change."""
    from botocore.exceptions import WaiterError

    cloudformation = aws.client("cloudformation")
    name = f"{kind.lower()}-{int(time.time())}"
    cloudformation.create_change_set(StackName=stack_name(stage), ChangeSetName=name, ChangeSetType=kind,
                                     Capabilities=CAPABILITIES, **spec)
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack_name(stage), ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except WaiterError:
        reason = cloudformation.describe_change_set(StackName=stack_name(stage), ChangeSetName=name)
        text = reason.get("StatusReason", "")
        if "didn't contain changes" in text or "No updates" in text:
            cloudformation.delete_change_set(StackName=stack_name(stage), ChangeSetName=name)
            return None
        raise Stop(f"CloudFormation refused the change: {text}") from None
    return name


def _execute(aws: Any, stage: str, change: str, waiter: str) -> None:
    from botocore.exceptions import WaiterError

    cloudformation = aws.client("cloudformation")
    cloudformation.execute_change_set(StackName=stack_name(stage), ChangeSetName=change)
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack_name(stage),
                                               WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except WaiterError:
        raise Stop(f"{stack_name(stage)} failed: {first_failure(cloudformation, stage)}") from None


def first_failure(cloudformation: Any, stage: str) -> str:
    """The first resource that failed in the latest operation (the others fail because of it)."""
    events = cloudformation.describe_stack_events(StackName=stack_name(stage))["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"].endswith("_FAILED")]
    if not failed:
        return "see the stack's events in the CloudFormation console"
    first = failed[-1]
    return f"{first['LogicalResourceId']}: {first.get('ResourceStatusReason', first['ResourceStatus'])}"


def deploy(stage: str, params_text: str, out: Path) -> None:
    aws, account = session()
    from infra.package import build
    from infra.template import merge_template

    resources = merge_template(stage)  # the parameters chalice's template will carry, known before packaging
    given = parse_params(params_text, resources)
    cloudformation = aws.client("cloudformation")
    stack = existing_stack(cloudformation, stage)
    previous = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    values = parameter_values(resources, given, previous)
    check_concurrency(aws, stage, given, resources)
    warn_if_ses_sandboxed(aws)
    try:
        built = build(stage, out)  # the same build the deploy rehearsal (tests/deploy/) runs
    except subprocess.CalledProcessError as failed:
        raise Stop(f"packaging failed ({' '.join(map(str, failed.cmd[:4]))} …: exit {failed.returncode}); "
                   "pip needs PyPI, chalice the project's app.py") from None
    print(f"deploy: {built.size_line()}")
    template_url, template = upload(aws, account, stage, built.sam)
    if stack is None and stage in PROTECTED_STAGES and import_retained_tables(aws, stage, template):
        stack = existing_stack(cloudformation, stage)
    change = _change_set(aws, stage, "UPDATE" if stack else "CREATE", TemplateURL=template_url, Parameters=values)
    if change is None:
        print(f"deploy: {stack_name(stage)} is up to date")
    else:
        _execute(aws, stage, change, "stack_update_complete" if stack else "stack_create_complete")
    if not _public_url_known(cloudformation, stage):
        # Without a domain the API's URL exists only now: give it to the functions for their email links.
        url = stack_outputs(cloudformation, stage)["EndpointURL"].rstrip("/")
        print(f"deploy: setting PublicBaseUrl={url}")
        values = [v for v in values if v["ParameterKey"] != "PublicBaseUrl"]
        values.append({"ParameterKey": "PublicBaseUrl", "ParameterValue": url})
        change = _change_set(aws, stage, "UPDATE", TemplateURL=template_url, Parameters=values)
        if change:
            _execute(aws, stage, change, "stack_update_complete")
    for key, value in sorted(stack_outputs(cloudformation, stage).items()):
        print(f"deploy: {key} = {value}")


def _public_url_known(cloudformation: Any, stage: str) -> bool:
    stack = described_stack(cloudformation, stage) or {}
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return bool(params.get("PublicBaseUrl") or params.get("DomainName"))


def destroy(stage: str, confirm: str) -> None:
    if stage in PROTECTED_STAGES and confirm != stage:
        raise Stop(f"{stage} is protected: run make destroy STAGE={stage} CONFIRM={stage} (its tables are kept)")
    aws, account = session()
    cloudformation = aws.client("cloudformation")
    if described_stack(cloudformation, stage) is None:
        print(f"destroy: {stack_name(stage)} does not exist")
    else:
        cloudformation.delete_stack(StackName=stack_name(stage))
        from botocore.exceptions import WaiterError

        try:
            cloudformation.get_waiter("stack_delete_complete").wait(
                StackName=stack_name(stage), WaiterConfig={"Delay": 10, "MaxAttempts": 360})
        except WaiterError:
            raise Stop(f"{stack_name(stage)} was not deleted: {first_failure(cloudformation, stage)}") from None
        print(f"destroy: deleted {stack_name(stage)}"
              + (" (its tables are kept: the next deploy imports them)" if stage in PROTECTED_STAGES else ""))
    _empty_artifacts(aws.client("s3"), f"sms-rooms-artifacts-{account}-{aws.region_name}", stage)


def _empty_artifacts(s3: Any, bucket: str, stage: str) -> None:
    """Delete the stage's packages; the bucket goes too once no stage has anything left in it."""
    from botocore.exceptions import ClientError

    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{stage}/"):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        if not s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount"):
            s3.delete_bucket(Bucket=bucket)
            print(f"destroy: deleted artifacts bucket {bucket}")
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucket":
            raise


def main() -> None:
    parser = argparse.ArgumentParser(description="Deploy or destroy a stage's stack.")
    parser.add_argument("command", choices=("deploy", "destroy"))
    parser.add_argument("--stage", default="")
    parser.add_argument("--params", default="", help="Name=value pairs for the stack's parameters")
    parser.add_argument("--confirm", default="", help="the stage's name again, to destroy a protected stage")
    args = parser.parse_args()

    def command() -> None:
        stage = require_stage(args.stage)
        if args.command == "deploy":
            deploy(stage, args.params, ROOT / ".local" / "infra" / stage)
        else:
            destroy(stage, args.confirm)

    run(args.command, command)


if __name__ == "__main__":
    main()
