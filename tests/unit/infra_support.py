"""The packaged dev stack, built once per test run, and an IAM reader that resolves its ARNs as CloudFormation would.

The stack is packaged from a copy of the project whose requirements.txt is empty: the template does not depend on
the zip's contents, and an empty requirements file keeps `chalice package` offline and fast.
"""
from __future__ import annotations

import fnmatch
import functools
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from infra.template import ROOT, package

REGION, ACCOUNT_ID, STACK = "us-east-1", "123456789012", "sms-rooms-dev"
PARAMETERS = {"SenderDomain": "example.com"}


@functools.cache
def packaged_dev() -> tuple[Path, dict[str, Any]]:
    """(path of sam.json, its template) for the dev stage."""
    work = Path(tempfile.mkdtemp(prefix="infra-test-"))
    project = work / "project"
    project.mkdir()
    shutil.copy2(ROOT / "app.py", project / "app.py")
    for folder in ("chalicelib", ".chalice"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__", "deployments"))
    (project / "requirements.txt").write_text("")
    sam = package("dev", work / "out", project)
    return sam, json.loads(sam.read_text())


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def resolve(value: Any, template: dict[str, Any]) -> str:
    """A policy Resource as the deployed stack would see it (GetAtt Arn, Sub of pseudo parameters and Arns)."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        return _arn_of(logical_id, template)
    text = value["Fn::Sub"]
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": STACK,
              **PARAMETERS}
    return re.sub(r"\$\{([\w:]+)(\.Arn)?\}",
                  lambda m: _arn_of(m[1], template) if m[2] else pseudo[m[1]], text)


def _arn_of(logical_id: str, template: dict[str, Any]) -> str:
    resource = template["Resources"][logical_id]
    props = resource.get("Properties", {})
    if resource["Type"] == "AWS::DynamoDB::Table":
        return arn("dynamodb", f"table/{props['TableName']}")
    if resource["Type"] == "AWS::Logs::LogGroup":
        return arn("logs", f"log-group:{resolve(props['LogGroupName'], template)}:*")
    if resource["Type"] == "AWS::SQS::Queue":
        return arn("sqs", f"{STACK}-{logical_id}-X1")
    raise AssertionError(f"no ARN for {resource['Type']}")


def statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    role = template["Resources"][role_id]
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def allows(template: dict[str, Any], role_id: str, action: str, resource: str) -> bool:
    """True when the role's policy allows the action on the resource (IAM wildcard rules)."""
    return any(_statement_allows(s, action, resource, template) for s in statements(template, role_id))


def _statement_allows(statement: dict[str, Any], action: str, resource: str, template: dict[str, Any]) -> bool:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return (statement["Effect"] == "Allow"
            and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)
            and any(fnmatch.fnmatchcase(resource, resolve(r, template)) for r in resources))
