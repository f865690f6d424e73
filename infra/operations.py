"""Operations in the stack: alarms to an SNS topic, log retention, API access logs and throttling, failed runs kept.

Everything here is merged over what `chalice package` emits (see infra/template.py `merge_template`): resources of
its own, plus properties laid over chalice's functions and API. The alarms and what to do when each fires are
listed in infra/README.md.
"""
from __future__ import annotations

from typing import Any

from infra.functions import API, Function

NAMESPACE = "SmsRooms"  # chalicelib/observability.py; every metric also carries service and stage dimensions
SERVICE = "sms-rooms"
API_STAGE = "api"  # .chalice/config.json api_gateway_stage

# Custom metrics an alarm watches: (metric, alarm id, statistic, period in seconds, what firing means).
CUSTOM_METRIC_ALARMS = (
    ("LedgerDiscrepancies", "LedgerDiscrepanciesAlarm", "Maximum", 3600,
     "reconcile found books that do not add up (see its ERROR log lines)"),
    ("ReconcileFailed", "ReconcileFailedAlarm", "Sum", 3600, "a scheduled reconcile raised before it finished"),
    ("PartnerCallsGivenUp", "PartnerCallsGivenUpAlarm", "Sum", 300,
     "a finish/cancel a partner never took was given up: end it in the partner's panel"),
    ("MailNotSent", "MailNotSentAlarm", "Sum", 300,
     "SES refused an email (kept in the mail outbox and retried): is the domain verified and out of the sandbox?"),
    ("MailGivenUp", "MailGivenUpAlarm", "Sum", 300, "an email was never sent: every retry refused, or it could not "
                                                    "even be queued (see the deliver_mail ERROR logs)"),
)

RESOURCE_PARAMETERS: dict[str, Any] = {
    "AlarmTopicArn": {"Type": "String", "Default": "",
                      "AllowedPattern": r"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+)?$",
                      "Description": "SNS topic the alarms notify (empty: the stack creates one, see AlarmEmail)"},
    "AlarmEmail": {"Type": "String", "Default": "", "AllowedPattern": r"^([^@\s]+@[^@\s]+)?$",
                   "Description": "Email subscribed to the stack's own alarm topic (ignored with AlarmTopicArn)"},
    "ApiReservedConcurrency": {"Type": "Number", "Default": 100, "MinValue": 0,
                               "Description": "Executions reserved for the API function (0: none, it shares the "
                                              "account's unreserved pool). The account keeps 100 unreserved."},
    "ApiThrottleRateLimit": {"Type": "Number", "Default": 50, "MinValue": 1,
                             "Description": "API Gateway stage steady-state requests per second"},
    "ApiThrottleBurstLimit": {"Type": "Number", "Default": 100, "MinValue": 1,
                              "Description": "API Gateway stage burst of requests"},
    "LogRetentionDays": {"Type": "Number", "Default": 90, "AllowedValues": [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
                         "Description": "Days every function's and the API's access logs are kept"},
    "CreateApiGatewayLogsRole": {"Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
                                 "Description": "Set the region's API Gateway CloudWatch role (false when the "
                                                "account already has one)"},
}

CONDITIONS: dict[str, Any] = {
    "CreateAlarmTopic": {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]},
    "SubscribeAlarmEmail": {"Fn::And": [{"Condition": "CreateAlarmTopic"},
                                        {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}]},
    "ReserveApiConcurrency": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, "0"]}]},
    "CreateApiGatewayLogsRole": {"Fn::Equals": [{"Ref": "CreateApiGatewayLogsRole"}, "true"]},
}

_ALARM_TARGET = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}

# One line per request, JSON, no bodies or headers (so no credentials); $context variables of API Gateway.
ACCESS_LOG_FORMAT = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                     '"time":"$context.requestTime","method":"$context.httpMethod","path":"$context.path",'
                     '"status":"$context.status","bytes":"$context.responseLength",'
                     '"latencyMs":"$context.responseLatency","integrationStatus":"$context.integration.status",'
                     '"error":"$context.error.message"}')


def operations_resources(stage: str, functions: list[Function]) -> dict[str, Any]:
    """The stack's own operational resources: topic, log groups, failed-run queue, API logging, alarms."""
    resources: dict[str, Any] = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Condition": "CreateAlarmTopic",
                       "Properties": {"DisplayName": f"SMS Rooms {stage} alarms"}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "SubscribeAlarmEmail",
                                   "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                                  "Endpoint": {"Ref": "AlarmEmail"}}},
        "ScheduledRunFailures": {"Type": "AWS::SQS::Queue", "Properties": {
            "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}},
        "ScheduledRunFailuresPolicy": _failures_queue_policy(),
        "ApiAccessLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": {"Fn::Sub": "/sms-rooms/${AWS::StackName}/api-access"},
            "RetentionInDays": {"Ref": "LogRetentionDays"}}},
        **_api_gateway_logs_role(),
    }
    for function in functions:
        resources[function.log_group_id] = {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": {"Fn::Sub": f"/sms-rooms/${{AWS::StackName}}/{function.name}"},
            "RetentionInDays": {"Ref": "LogRetentionDays"}}}
        resources.update(_function_alarms(function))
    resources.update(_custom_metric_alarms(stage))
    resources["ApiServerErrorsAlarm"] = _alarm(
        "the API answered 5xx (a bug, a timeout or a Lambda error): see the API access logs and APIHandler's log",
        namespace="AWS/ApiGateway", metric="5XXError", statistic="Sum", period=300,
        dimensions=[{"Name": "ApiName", "Value": api_name(stage)}, {"Name": "Stage", "Value": API_STAGE}])
    resources["ScheduledRunFailuresAlarm"] = _alarm(
        "a scheduled run failed or could not start: read the message in the ScheduledRunFailures queue",
        namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible", statistic="Maximum", period=300,
        dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ScheduledRunFailures", "QueueName"]}}])
    return resources


def api_name(stage: str) -> str:
    return f"{SERVICE}-{stage}"


def function_properties(function: Function) -> dict[str, Any]:
    """Laid over chalice's function: its log group, and for a schedule, where its failed runs go."""
    props: dict[str, Any] = {"LoggingConfig": {"LogGroup": {"Ref": function.log_group_id}}}
    if function.name == API:
        props["ReservedConcurrentExecutions"] = {
            "Fn::If": ["ReserveApiConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    if function.scheduled:
        # A stale sweep is worth nothing (the next one starts within minutes): no retries, no hours-long queue.
        # A run that fails, or cannot start because the last one still runs, is kept in ScheduledRunFailures.
        failures = {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]}
        props["EventInvokeConfig"] = {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60,
                                      "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": failures}}}
        props["Events"] = {function.schedule_event_id: {"Properties": {
            "DeadLetterConfig": {"Arn": failures},
            "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}}}}
    return props


def api_properties(stage: str) -> dict[str, Any]:
    """Laid over chalice's RestAPI: a per-stage name (the 5xx alarm's dimension), access logs, stage throttling."""
    return {
        "Name": api_name(stage),
        "DefinitionBody": {"info": {"title": api_name(stage)}},
        # The stage's access logs need the account's logs role set first: naming it here orders the two.
        "Description": {"Fn::If": ["CreateApiGatewayLogsRole",
                                   {"Fn::Sub": f"SMS Rooms {stage} (logs through ${{ApiGatewayAccount}})"},
                                   f"SMS Rooms {stage}"]},
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]},
                             "Format": ACCESS_LOG_FORMAT},
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True,
                            "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
                            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"}}],
    }


def websocket_stage_properties() -> dict[str, Any]:
    """Laid over chalice's WebSocket API stage (live updates): connects and messages throttled like the REST stage,
    so a flood of sockets cannot run the handlers (and their writes) unbounded."""
    return {"DefaultRouteSettings": {"ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
                                     "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"}}}


def operations_outputs() -> dict[str, Any]:
    return {
        "AlarmTopic": {"Value": _ALARM_TARGET, "Description": "Where every alarm of the stack is sent"},
        "ScheduledRunFailuresQueueUrl": {"Value": {"Ref": "ScheduledRunFailures"},
                                         "Description": "Failed scheduled runs (one message each)"},
    }


def _failures_queue_policy() -> dict[str, Any]:
    """EventBridge may put a schedule's undeliverable event in the queue (Lambda's own failures go by its role)."""
    return {"Type": "AWS::SQS::QueuePolicy", "Properties": {
        "Queues": [{"Ref": "ScheduledRunFailures"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Sid": "ScheduleDeadLetters", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]},
            "Condition": {"ArnLike": {"aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-*"}},
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }]}}}


def _api_gateway_logs_role() -> dict[str, Any]:
    """API Gateway writes access logs through one role per account and region (its account setting)."""
    return {
        "ApiGatewayLogsRole": {"Type": "AWS::IAM::Role", "Condition": "CreateApiGatewayLogsRole", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                              "AmazonAPIGatewayPushToCloudWatchLogs"}]}},
        "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", "Condition": "CreateApiGatewayLogsRole",
                              "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayLogsRole", "Arn"]}}},
    }


def _function_alarms(function: Function) -> dict[str, Any]:
    name = [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]
    return {
        f"{function.logical_id}ErrorsAlarm": _alarm(
            f"{function.logical_id} raised or timed out: read its log group {function.log_group_id}",
            namespace="AWS/Lambda", metric="Errors", statistic="Sum", period=300, dimensions=name),
        f"{function.logical_id}ThrottlesAlarm": _alarm(
            f"{function.logical_id} was refused for want of concurrency (a schedule: its last run still ran)",
            namespace="AWS/Lambda", metric="Throttles", statistic="Sum", period=300, dimensions=name),
    }


def _custom_metric_alarms(stage: str) -> dict[str, Any]:
    dimensions = [{"Name": "service", "Value": SERVICE}, {"Name": "stage", "Value": stage}]
    alarms = {alarm_id: _alarm(meaning, namespace=NAMESPACE, metric=metric, statistic=statistic, period=period,
                               dimensions=dimensions)
              for metric, alarm_id, statistic, period, meaning in CUSTOM_METRIC_ALARMS}
    # A reconcile killed by its timeout raises nothing and emits nothing: silence for three hours is an alarm too.
    alarms["ReconcileSilentAlarm"] = _alarm(
        "no reconcile finished in three hours (timed out, failing or not scheduled)", namespace=NAMESPACE,
        metric="LedgerDiscrepancies", statistic="SampleCount", period=3600, dimensions=dimensions,
        periods=3, comparison="LessThanThreshold", missing="breaching")
    return alarms


def _alarm(description: str, *, namespace: str, metric: str, statistic: str, period: int,
           dimensions: list[dict[str, Any]], periods: int = 1, comparison: str = "GreaterThanOrEqualToThreshold",
           missing: str = "notBreaching") -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
        "Statistic": statistic, "Period": period, "EvaluationPeriods": periods, "Threshold": 1,
        "ComparisonOperator": comparison, "TreatMissingData": missing,
        "AlarmActions": [_ALARM_TARGET], "OKActions": [_ALARM_TARGET]}}
