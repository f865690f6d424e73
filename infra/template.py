"""CloudFormation for what Chalice does not deploy: tables (built from the PynamoDB models), SES, secrets, admin access.

The template stands on its own (`aws cloudformation deploy` it next to `chalice deploy`) and, with the admin
Lambda's name pinned, is the `--merge-template` of `chalice package`: one stack with the Lambdas, the API and this:

    .venv/bin/python -m infra.template --stage dev --out .local/infra/dev --package

Nothing here needs AWS credentials or the network except the real `chalice package` run, which pip-installs
requirements.txt into the Lambda zip. Tables are never written by hand: each registered model becomes one
`AWS::DynamoDB::Table` with the key schema, indexes and TTL attribute PynamoDB itself would create.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pynamodb.models import Model

from chalicelib.config import SECRET_SETTINGS as SECRET_SETTINGS  # the SSM parameters a stage needs, defined once
from chalicelib.config import Settings, settings_from_env
from chalicelib.store.base import registered_models
from infra import access, operations
from infra.aws import PROTECTED_STAGES
from infra.functions import functions

ROOT = Path(__file__).resolve().parents[1]
CHALICE = Path(sys.executable).with_name("chalice")



# Chalice's logical id for `@app.lambda_function(name="admin")`; bin/admin invokes it by its chalice-deploy name.
ADMIN_LOGICAL_ID = "Admin"

Template = dict[str, Any]


def stage_environment(stage: str, project_dir: Path = ROOT) -> dict[str, str]:
    """The environment variables `.chalice/config.json` gives the stage's Lambdas (global, then stage)."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        raise ValueError(f"stage {stage!r} is not in .chalice/config.json (known: {', '.join(config['stages'])})")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def admin_function_name(stage: str, project_dir: Path = ROOT) -> str:
    """`<app>-<stage>-admin`, the name `chalice deploy` gives the admin Lambda and bin/admin invokes."""
    app_name = json.loads((project_dir / ".chalice" / "config.json").read_text())["app_name"]
    return f"{app_name}-{stage}-admin"


def stage_settings(stage: str, project_dir: Path = ROOT) -> Settings:
    """The Settings a deployed Lambda of this stage would build (same code path as at run time)."""
    return settings_from_env(stage_environment(stage, project_dir))


def table_logical_id(model: type[Model]) -> str:
    return f"{model.__name__}Table"


def table_resource(model: type[Model], table_name: str, *, protected: bool) -> Template:
    """One AWS::DynamoDB::Table with the model's keys, indexes and TTL; on-demand like create_tables()."""
    schema = model._get_schema()
    props: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda d: d["AttributeName"]),
        "KeySchema": _hash_first(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "DeletionProtectionEnabled": protected,
    }
    if schema["global_secondary_indexes"]:
        props["GlobalSecondaryIndexes"] = [_index(i) for i in schema["global_secondary_indexes"]]
    if schema["local_secondary_indexes"]:
        props["LocalSecondaryIndexes"] = [_index(i) for i in schema["local_secondary_indexes"]]
    ttl = model._ttl_attribute()
    if ttl is not None:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl.attr_name, "Enabled": True}
    policy = "Retain" if protected else "Delete"
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
            "Properties": props}


def _hash_first(key_schema: Any) -> list[dict[str, str]]:
    # DynamoDB wants HASH before RANGE; PynamoDB lists keys in attribute order.
    return sorted(({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema),
                  key=lambda k: k["KeyType"] != "HASH")


def _index(index: Any) -> dict[str, Any]:
    return {"IndexName": index["index_name"], "KeySchema": _hash_first(index["key_schema"]),
            "Projection": dict(index["projection"])}


def build_template(stage: str, project_dir: Path = ROOT) -> Template:
    """The stage's resources template: tables, SES identity, the public Stripe key, the admin CLI's policy."""
    settings = stage_settings(stage, project_dir)
    protected = stage in PROTECTED_STAGES
    resources: dict[str, Any] = {
        table_logical_id(m): table_resource(m, settings.table_prefix + m.Meta.short_name,  # type: ignore[attr-defined]
                                            protected=protected)
        for m in registered_models()
    }
    resources.update(_mail_resources())
    resources.update(_secret_resources(stage_environment(stage, project_dir)))
    resources["AdminCliPolicy"] = _admin_cli_policy(admin_function_name(stage, project_dir))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"SMS Rooms {stage}: tables, email identity, secrets and admin access",
        "Parameters": _parameters(),
        # SAM merges these into every function, including the scheduled jobs Chalice adds later.
        "Globals": {"Function": {"Environment": {"Variables": {
            "MAIL_FROM": {"Fn::Sub": "SMS Rooms <no-reply@${SenderDomain}>"},
            # Reply-To of every email: a mailbox the operator reads at the sender domain.
            "SUPPORT_EMAIL": {"Fn::Sub": "SMS Rooms support <support@${SenderDomain}>"},
            "PUBLIC_BASE_URL": {"Ref": "PublicBaseUrl"},
        }}}},
        "Resources": resources,
        "Outputs": {
            "AdminCliPolicyArn": {"Value": {"Ref": "AdminCliPolicy"}},
            "TablePrefix": {"Value": settings.table_prefix},
            **_dkim_outputs(),
        },
    }


def _parameters() -> dict[str, Any]:
    return {
        "SenderDomain": {"Type": "String", "AllowedPattern": r"^[a-z0-9.-]+\.[a-z]{2,}$",
                         "Description": "Domain the service sends email from (verified in SES with Easy DKIM)"},
        "PublicBaseUrl": {"Type": "String", "Default": "", "AllowedPattern": r"^(https://.+[^/])?$",
                          "Description": "Public URL of the service, used in email links (no trailing slash; "
                                         "empty: https://DomainName, or make deploy fills in the API's URL)"},
        "StripePublishableKey": {"Type": "String", "AllowedPattern": r"^pk_(test|live)_\w+$",
                                 "Description": "Stripe publishable key (public; secret keys go to SSM)"},
    }


def _mail_resources() -> dict[str, Any]:
    return {"SenderIdentity": {"Type": "AWS::SES::EmailIdentity",
                               "Properties": {"EmailIdentity": {"Ref": "SenderDomain"}}}}


def _dkim_outputs() -> dict[str, Any]:
    """Easy DKIM's three CNAME records: SES sends nothing from the domain until they are in its DNS."""
    return {f"DkimRecord{n}": {
        "Description": f"DNS record {n} of 3 to publish for SES (name CNAME value)",
        "Value": {"Fn::Sub": f"${{SenderIdentity.DkimDNSTokenName{n}}} CNAME ${{SenderIdentity.DkimDNSTokenValue{n}}}"},
    } for n in (1, 2, 3)}


def _secret_resources(env: dict[str, str]) -> dict[str, Any]:
    prefix = env.get("SECRETS_PARAMETER_PREFIX", "")
    if not prefix:
        return {}
    return {"StripePublishableKeyParameter": {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": f"{prefix}STRIPE_PUBLISHABLE_KEY", "Type": "String",
                       "Value": {"Ref": "StripePublishableKey"},
                       "Description": "Public Stripe key; the secret ones are SecureString parameters beside it"},
    }}


def _admin_cli_policy(function_name: str) -> dict[str, Any]:
    """What an operator's IAM user or role needs for `bin/admin --stage <stage>`: invoke the admin Lambda."""
    return {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "Description": f"Lets bin/admin invoke {function_name}",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}"
                                    f":function:{function_name}"},
        }]},
    }}


def merge_template(stage: str, project_dir: Path = ROOT) -> Template:
    """The template `chalice package` merges: the resources, operations and access over chalice's functions.

    Chalice's own function, role and API resources get properties laid over them (a dict merges key by key, a
    list replaces chalice's): each function's log group and failed-run handling, each role's policy, the API's
    logging and throttling. The admin Lambda is pinned to its deploy name: CloudFormation would otherwise name
    it `<stack>-Admin-<random>`, which bin/admin cannot guess.
    """
    template = build_template(stage, project_dir)
    env = stage_environment(stage, project_dir)
    resources = template["Resources"]
    tables = {m.Meta.short_name: {"id": table_logical_id(m), "indexes": _index_names(m)}  # type: ignore[attr-defined]
              for m in registered_models()}
    for function in functions():
        resources[function.logical_id] = {"Properties": operations.function_properties(function)}
        resources[function.role_id] = {"Properties": {
            "Policies": access.role_policies(function, tables, env["SECRETS_PARAMETER_PREFIX"])}}
    resources[ADMIN_LOGICAL_ID]["Properties"]["FunctionName"] = admin_function_name(stage, project_dir)
    resources["RestAPI"] = {"Properties": operations.api_properties(stage)}
    resources["WebsocketAPIStage"] = {"Properties": operations.websocket_stage_properties()}
    resources.update(operations.operations_resources(stage, functions()))
    resources.update(_domain_resources())
    template["Parameters"].update(operations.RESOURCE_PARAMETERS)
    template["Parameters"].update(_domain_parameters())
    template["Conditions"] = {**operations.CONDITIONS, **_domain_conditions()}
    template["Rules"] = _domain_rules()
    template["Outputs"].update(operations.operations_outputs())
    template["Outputs"].update(_domain_outputs())
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    variables["PUBLIC_BASE_URL"] = {"Fn::If": [
        "HasPublicBaseUrl", {"Ref": "PublicBaseUrl"},
        {"Fn::If": ["HasDomain", {"Fn::Sub": "https://${DomainName}"}, ""]}]}
    # Where dashboard pages open their live-updates socket: this stack's WebSocket API (chalice's), at its stage.
    variables["LIVE_URL"] = {"Fn::Sub": "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
                                        + operations.API_STAGE}
    return template


def _index_names(model: type[Model]) -> list[str]:
    schema = model._get_schema()
    return sorted(i["index_name"] for i in schema["global_secondary_indexes"] + schema["local_secondary_indexes"])


def _domain_parameters() -> dict[str, Any]:
    return {
        "DomainName": {"Type": "String", "Default": "", "AllowedPattern": r"^([a-z0-9-]+(\.[a-z0-9-]+)+)?$",
                       "Description": "Custom domain of the API and dashboard (empty: only the execute-api URL)"},
        "CertificateArn": {"Type": "String", "Default": "",
                           "AllowedPattern": r"^(arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+)?$",
                           "Description": "ACM certificate for DomainName, in the stack's region"},
    }


def _domain_conditions() -> dict[str, Any]:
    return {"HasDomain": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]},
            "HasPublicBaseUrl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "PublicBaseUrl"}, ""]}]}}


def _domain_rules() -> dict[str, Any]:
    """A domain without its certificate (or the reverse) stops the deploy before anything is created."""
    return {
        "DomainNeedsCertificate": {
            "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]},
            "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]},
                            "AssertDescription": "DomainName needs CertificateArn (ACM, this region)"}]},
        "CertificateNeedsDomain": {
            "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]},
            "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]},
                            "AssertDescription": "CertificateArn is only used with DomainName"}]},
    }


def _domain_resources() -> dict[str, Any]:
    """A regional custom domain mapped at its root to the API's stage (the dashboard then lives at `/`)."""
    return {
        "ApiDomain": {"Type": "AWS::ApiGateway::DomainName", "Condition": "HasDomain", "Properties": {
            "DomainName": {"Ref": "DomainName"}, "RegionalCertificateArn": {"Ref": "CertificateArn"},
            "EndpointConfiguration": {"Types": ["REGIONAL"]}, "SecurityPolicy": "TLS_1_2"}},
        "ApiDomainMapping": {"Type": "AWS::ApiGateway::BasePathMapping", "Condition": "HasDomain", "Properties": {
            "DomainName": {"Ref": "ApiDomain"}, "RestApiId": {"Ref": "RestAPI"},
            "Stage": {"Ref": "RestAPI.Stage"}}},
    }


def _domain_outputs() -> dict[str, Any]:
    return {
        "DomainDnsTarget": {"Condition": "HasDomain", "Value": {"Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]},
                            "Description": "Point DomainName here: a CNAME, or an alias A record in the zone below"},
        "DomainHostedZoneId": {"Condition": "HasDomain",
                               "Value": {"Fn::GetAtt": ["ApiDomain", "RegionalHostedZoneId"]},
                               "Description": "Hosted zone of the DNS target (for a Route 53 alias record)"},
        "DomainURL": {"Condition": "HasDomain", "Value": {"Fn::Sub": "https://${DomainName}/"}},
    }


def write_template(path: Path, template: Template) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template, indent=2) + "\n")
    return path


def package(stage: str, out_dir: Path, project_dir: Path = ROOT) -> Path:
    """Run `chalice package` for the stage with the resources merged in; returns the path of sam.json."""
    merge = write_template(out_dir / f"merge-{stage}.json", merge_template(stage, project_dir))
    pkg_dir = out_dir / "package"
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run([str(CHALICE), "--project-dir", str(project_dir), "package", "--stage", stage,
                    "--merge-template", str(merge), str(pkg_dir)], check=True, env=env, stdout=subprocess.DEVNULL)
    return pkg_dir / "sam.json"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the stage's CloudFormation resources (and package the app).")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, default=ROOT / ".local" / "infra")
    parser.add_argument("--package", action="store_true", help="also run chalice package with the resources merged")
    args = parser.parse_args()
    try:
        stage_environment(args.stage)
    except ValueError as exc:
        parser.error(str(exc))
    if args.package:
        print(package(args.stage, args.out))
    else:
        print(write_template(args.out / f"resources-{args.stage}.json", build_template(args.stage)))


if __name__ == "__main__":
    main()
