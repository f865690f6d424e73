"""The packaged stack as an operator meets it: least-privilege roles, alarms, logs, concurrency, failed runs, domain."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from infra.access import JOB_TABLES, JOBS_SENDING_MAIL, WILDCARD_REASONS
from infra.aws import ROOT
from infra.functions import functions
from infra.operations import CUSTOM_METRIC_ALARMS, RESOURCE_PARAMETERS
from tests.unit.infra_support import allows, arn, packaged_dev, statements

DEFAULT_ACCOUNT_CONCURRENCY, KEPT_UNRESERVED = 1000, 100
API_GATEWAY_TIMEOUT_SECONDS = 29


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return packaged_dev()[1]


def _of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_package__a_wildcard_resource_in_any_role_is_one_with_a_stated_reason(template):
    # Given every role the stack creates
    roles = _of_type(template, "AWS::IAM::Role")
    # When every statement's resources are read (as written: a wildcard in a Sub counts too)
    unjustified = [(role_id, s.get("Sid"), r) for role_id in roles if "Policies" in roles[role_id]["Properties"]
                   for s in statements(template, role_id)
                   for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
                   if "*" in json.dumps(r) and s.get("Sid") not in WILDCARD_REASONS]
    # Then none is a wildcard that infra/access.py does not justify
    assert unjustified == []


def test_package__each_function_has_a_role_of_its_own(template):
    # Given the packaged functions
    lambdas = _of_type(template, "AWS::Serverless::Function")
    # When we look at the role each one runs as
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in lambdas.values()]
    # Then no two share one, and every function of the app is there
    assert len(set(roles)) == len(roles) == len(functions())
    assert set(lambdas) == {f.logical_id for f in functions()}


def test_package__scheduled_jobs_get_only_the_tables_they_use_and_send_no_mail(template):
    # Given the scheduled jobs' roles, but deliver_mail's (sending what SES refused is its job)
    jobs = [f for f in functions() if f.scheduled and f.name not in JOBS_SENDING_MAIL]
    # When we ask for a table no job uses, mail, and a write on the books by reconcile
    credentials = arn("dynamodb", "table/smsrooms-dev-credentials")
    # Then each is refused, while each job keeps the tables it declares
    assert {f.name for f in jobs} | JOBS_SENDING_MAIL == set(JOB_TABLES)
    assert allows(template, "DeliverMailRole", "ses:SendEmail", arn("ses", "identity/example.com"))
    assert not any(allows(template, f.role_id, "dynamodb:GetItem", credentials) for f in jobs)
    assert not any(allows(template, f.role_id, "ses:SendEmail", arn("ses", "identity/example.com")) for f in jobs)
    assert not allows(template, "ReconcileRole", "dynamodb:PutItem", arn("dynamodb", "table/smsrooms-dev-ledger"))
    assert allows(template, "ReconcileRole", "dynamodb:Query", arn("dynamodb", "table/smsrooms-dev-ledger"))
    activations = arn("dynamodb", "table/smsrooms-dev-activations")
    assert allows(template, "PollPartnersRole", "dynamodb:UpdateItem", activations)


def test_package__reserved_concurrency_fits_a_default_account_and_schedules_never_overlap(template):
    # Given the packaged functions and the API's reservation at its default
    lambdas = {f.logical_id: template["Resources"][f.logical_id]["Properties"] for f in functions()}
    api_default = RESOURCE_PARAMETERS["ApiReservedConcurrency"]["Default"]
    # When the reservations are added up
    scheduled = [lambdas[f.logical_id].get("ReservedConcurrentExecutions") for f in functions() if f.scheduled]
    reserved = api_default + sum(r for r in scheduled if isinstance(r, int))
    # Then every schedule runs one at a time, and the account keeps its 100 unreserved
    assert scheduled == [1] * len(scheduled)
    assert lambdas["APIHandler"]["ReservedConcurrentExecutions"]["Fn::If"][1] == {"Ref": "ApiReservedConcurrency"}
    assert reserved <= DEFAULT_ACCOUNT_CONCURRENCY - KEPT_UNRESERVED
    assert lambdas["Admin"].get("ReservedConcurrentExecutions") is None


def test_package__the_api_function_ends_before_api_gateway_gives_up(template):
    # Given the API function
    timeout = template["Resources"]["APIHandler"]["Properties"]["Timeout"]
    # Then it is killed (and logged) before API Gateway's 29 s answer a client cannot tell from ours
    assert timeout <= API_GATEWAY_TIMEOUT_SECONDS - 1


def test_package__every_function_logs_to_a_group_with_retention(template):
    # Given the packaged functions
    for f in functions():
        props = template["Resources"][f.logical_id]["Properties"]
        # When we follow its logging config
        group = template["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
        # Then the group is the stack's, kept for LogRetentionDays
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, f.name


def test_package__every_function_alarms_on_errors_and_throttles(template):
    # Given the stack's alarms
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    # When we index the Lambda ones by (function, metric)
    watched = {(a["Properties"]["Dimensions"][0]["Value"]["Ref"], a["Properties"]["MetricName"])
               for a in alarms.values() if a["Properties"]["Namespace"] == "AWS/Lambda"}
    # Then each function has both, and every alarm notifies the topic
    assert watched == {(f.logical_id, m) for f in functions() for m in ("Errors", "Throttles")}
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())


def test_package__the_books_partners_mail_api_and_failed_runs_alarm(template):
    # Given the stack's alarms
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    # Then reconcile (found, failed, silent), given-up partner calls, lost mail, API 5xx and the queue all alarm
    assert {m for m, *_ in CUSTOM_METRIC_ALARMS} <= metrics
    assert {"5XXError", "ApproximateNumberOfMessagesVisible"} <= metrics
    silent = alarms["ReconcileSilentAlarm"]["Properties"]
    assert (silent["MetricName"], silent["TreatMissingData"]) == ("LedgerDiscrepancies", "breaching")
    stage = {d["Name"]: d["Value"] for d in alarms["LedgerDiscrepanciesAlarm"]["Properties"]["Dimensions"]}
    assert stage == {"service": "sms-rooms", "stage": "dev"}


def test_package__a_failed_scheduled_run_lands_in_the_failures_queue(template):
    # Given each scheduled function
    for f in (f for f in functions() if f.scheduled):
        props = template["Resources"][f.logical_id]["Properties"]
        event = props["Events"][f.schedule_event_id]["Properties"]
        # Then a run that fails (Lambda) or cannot be delivered (EventBridge) goes to the queue, without retries
        queue = {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]}
        assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == queue
        assert props["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
        assert event["DeadLetterConfig"]["Arn"] == queue
        # And the function may write there
        assert allows(template, f.role_id, "sqs:SendMessage", arn("sqs", "sms-rooms-dev-ScheduledRunFailures-X1"))


def test_package__the_api_stage_logs_each_request_and_is_throttled(template):
    # Given the API
    props = template["Resources"]["RestAPI"]["Properties"]
    # Then requests are logged to the stack's group and throttled by the stage parameters
    assert props["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert "$context.status" in props["AccessLogSetting"]["Format"]
    [setting] = props["MethodSettings"]
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (
        {"Ref": "ApiThrottleRateLimit"}, {"Ref": "ApiThrottleBurstLimit"})
    # And the live-updates WebSocket API's stage is throttled by the same parameters
    routes = template["Resources"]["WebsocketAPIStage"]["Properties"]["DefaultRouteSettings"]
    assert (routes["ThrottlingRateLimit"], routes["ThrottlingBurstLimit"]) == (
        {"Ref": "ApiThrottleRateLimit"}, {"Ref": "ApiThrottleBurstLimit"})


def test_package__a_custom_domain_maps_the_api_and_the_outputs_give_its_dns_and_dkim_records(template):
    # Given the stack's domain resources and outputs
    resources, outputs = template["Resources"], template["Outputs"]
    # Then the optional domain is mapped to the API's stage and its DNS target is an output
    assert resources["ApiDomain"]["Condition"] == "HasDomain"
    assert resources["ApiDomainMapping"]["Properties"]["RestApiId"] == {"Ref": "RestAPI"}
    assert outputs["DomainDnsTarget"]["Value"] == {"Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]}
    # And the three DKIM CNAME records of the sender domain are outputs
    assert all("SenderIdentity.DkimDNSTokenValue" in outputs[f"DkimRecord{n}"]["Value"]["Fn::Sub"]
               for n in (1, 2, 3))


def test_package__custom_metric_alarms_watch_the_dimensions_the_deployed_code_emits(template):
    # Given a dev function's process (app.py imported with the function's environment), emitting a metric
    env = {**template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"], "PATH": "/usr/bin:/bin"}
    emit = ("import app; from chalicelib.observability import metrics; "
            "metrics.add_metric(name='LedgerDiscrepancies', unit='Count', value=0); metrics.flush_metrics()")
    out = subprocess.run([sys.executable, "-c", emit], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    [blob] = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    emitted = {name: blob[name] for name in directive["Dimensions"][0]}
    # When we read what the LedgerDiscrepancies alarm watches
    alarm = template["Resources"]["LedgerDiscrepanciesAlarm"]["Properties"]
    # Then namespace and dimensions are exactly the emitted ones (CloudWatch matches them exactly)
    assert directive["Namespace"] == alarm["Namespace"]
    assert emitted == {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
