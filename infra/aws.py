"""What make deploy, smoke and destroy share: one clear line on failure, an AWS session that is known to work."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "sms-rooms"
# Stages whose tables survive a stack deletion or replacement (DeletionPolicy Retain): money and its history live there.
PROTECTED_STAGES = frozenset({"prod"})


class Stop(Exception):
    """A step that cannot go on: its message is the one line the operator reads."""


def stack_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}"


def known_stages() -> list[str]:
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    return [s for s in stages if s != "local"]


def require_stage(stage: str) -> str:
    if not stage:
        raise Stop(f"STAGE is required: make <target> STAGE=<{'|'.join(known_stages())}>")
    if stage not in known_stages():
        raise Stop(f"stage {stage!r} is not in .chalice/config.json (known: {', '.join(known_stages())}); "
                   "add a block like dev's with its own TABLE_PREFIX and SECRETS_PARAMETER_PREFIX")
    return stage


def session() -> tuple[Any, str]:
    """(boto3 session, account id), checked with STS before anything is built or touched."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    aws = boto3.Session()
    if aws.get_credentials() is None:
        raise Stop("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                   "(infra/README.md, Prerequisites)")
    if not aws.region_name:
        raise Stop("no AWS region: set AWS_REGION (or a region in your AWS profile)")
    try:
        account = aws.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise Stop(f"AWS refused the credentials: {error}") from None
    return aws, account


def stack_outputs(cloudformation: Any, stage: str) -> dict[str, str]:
    """The stage's stack outputs, or Stop when it has never been deployed."""
    from botocore.exceptions import ClientError

    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name(stage))["Stacks"]
    except ClientError:
        raise Stop(f"stack {stack_name(stage)} does not exist: run make deploy STAGE={stage} first") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def run(command: str, main: Callable[[], None]) -> NoReturn:
    """Run a command's main; a Stop, an AWS refusal (or Ctrl-C) is one line on stderr and exit status 1."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        main()
    except Stop as stop:
        print(f"{command}: {stop}", file=sys.stderr)
        sys.exit(1)
    except (BotoCoreError, ClientError) as error:  # e.g. AccessDenied on one call: the operator's rights
        print(f"{command}: AWS refused: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)
