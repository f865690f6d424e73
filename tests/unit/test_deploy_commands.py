"""make deploy / smoke / destroy as a first-time operator meets them: one clear line when they cannot go on."""
from __future__ import annotations

import subprocess

import pytest

from infra.aws import ROOT, Stop
from infra.deploy import destroy, parameter_values, parse_params
from infra.template import merge_template

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
