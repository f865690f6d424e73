"""Least privilege: each Lambda's own role policy, on this stage's tables, secrets path, SES identity and log group.

`chalice package` gives every function its own role (`<Function>Role`, autogen_policy off) filled from
`.chalice/policy.json`; the merge template replaces each role's `Policies` with the document built here, so ARNs
name this stack's resources in this region and account. A wildcard is allowed only when WILDCARD_REASONS says
why; tests/unit/test_infra.py reads the packaged template and fails on any other.
"""
from __future__ import annotations

from typing import Any

from infra.functions import ADMIN, API, WEBSOCKET_HANDLERS, Function
from infra.operations import API_STAGE

Actions = tuple[str, ...]

READ: Actions = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
        "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable")
UPDATE: Actions = (*READ, "dynamodb:UpdateItem")
WRITE: Actions = (*UPDATE, "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
CHECKPOINT: Actions = ("dynamodb:GetItem", "dynamodb:PutItem")  # read and replace one item, by its key
LOOKUP: Actions = ("dynamodb:BatchGetItem",)  # read items whose keys the caller already holds, nothing else

# Activation jobs all run the activations service: orders' state, the wallet (refunds), user webhooks, queued
# partner calls, the catalog and runtime settings (markup, maintenance, circuit state), and the pages' live sockets
# (an SMS a job records is pushed to them if the credential each socket proved still stands: looked up by the hash
# the socket's row holds, so a job can read no other credential).
_ACTIVATION_JOB_TABLES: dict[str, Actions] = {**{t: WRITE for t in (
    "accounts", "ledger", "claims", "activations", "bad_numbers", "webhook_deliveries",
    "partner_calls", "catalog_offers", "runtime", "delivery_counters", "marked_numbers", "live_connections")},
    "credentials": LOOKUP}

# The rental job (services/rentals/upkeep.py): rentals and their SMS, the wallet (refunds), user webhooks, runtime
# settings (markup), and the claims that make a refund or an SMS exactly-once.
_RENTAL_JOB_TABLES: dict[str, Actions] = {t: WRITE for t in (
    "accounts", "ledger", "claims", "rentals", "rental_sms", "webhook_deliveries", "runtime")}

# Tables a scheduled job may touch, by job name; a job missing here has no profile and the tests fail, so a new
# job is given its access on purpose. The API and admin Lambdas have every table (they serve every use case).
JOB_TABLES: dict[str, dict[str, Actions]] = {
    "refresh_prices": _ACTIVATION_JOB_TABLES,
    "poll_partners": _ACTIVATION_JOB_TABLES,
    "expire_overdue_activations": _ACTIVATION_JOB_TABLES,
    "resolve_stale_pending": _ACTIVATION_JOB_TABLES,
    "deliver_user_webhooks": _ACTIVATION_JOB_TABLES,
    "retry_partner_calls": _ACTIVATION_JOB_TABLES,
    "rental_upkeep": _RENTAL_JOB_TABLES,
    # Reconcile reads the books (and Stripe); it writes only its own bookkeeping: an account taken off the
    # `unreconciled` index once checked (UpdateItem), and its checkpoint (one item of the runtime table).
    "reconcile": {"accounts": UPDATE, "ledger": READ, "activations": READ, "rentals": READ, "topups": READ,
                  "runtime": CHECKPOINT},
    # Sends again what SES refused: leases, settles and forgets each queued message (services/platform/mail_outbox.py).
    "deliver_mail": {"mail_outbox": UPDATE},
    # Queues one email per account about a new agreement version (services/agreement_notices.py): a page of the
    # accounts read, each message put if absent, the version's cursor moved.
    "notify_agreement": {"agreements": UPDATE, "accounts": READ, "mail_outbox": WRITE},
    # Closes the live-updates sockets that never authenticated (services/platform/live_updates.py).
    "close_silent_sockets": {"live_connections": WRITE},
}

# The WebSocket handlers (api/live.py): a connect keeps the socket awaiting its proof; a message checks a session
# token as every request does (its last use noted, an agreement accepted by use, a wrong guess counted against the
# IP, runtime settings read: services/accounts/authn.py) and makes the socket the account's, with the account's hint
# that a page listens; a disconnect forgets it. tests/unit/test_live_handlers.py runs them against these roles.
WEBSOCKET_TABLES: dict[str, dict[str, Actions]] = {
    "websocket_connect": {"live_connections": WRITE},
    "websocket_message": {"credentials": WRITE, "accounts": UPDATE, "agreements": READ, "activity": WRITE,
                          "rate_windows": UPDATE, "runtime": READ, "live_connections": WRITE},
    "websocket_disconnect": {"live_connections": WRITE},
}

# Functions that write to or close the pages' sockets: whatever may record an SMS (the API's partner push, a user
# looking, admin, the activation jobs), the message handler's answer, the silent-socket sweep.
PUSHES_LIVE: frozenset[str] = frozenset({API, ADMIN, "websocket_message", "close_silent_sockets",
                                         *(job for job, t in JOB_TABLES.items() if t is _ACTIVATION_JOB_TABLES)})

# Jobs that send email (the API and admin Lambdas always may).
JOBS_SENDING_MAIL: frozenset[str] = frozenset({"deliver_mail"})

# Every wildcard in a generated policy, by statement id, with the reason it cannot be narrower.
WILDCARD_REASONS = {
    "Tracing": "X-Ray has no resource-level permissions: PutTraceSegments/PutTelemetryRecords take only '*'",
    "ReadSecrets": "the stage's own SSM path (/sms-rooms/<stage>/*): a secret added later needs no new policy",
    "LiveUpdates": "connections of this stack's WebSocket API, its one stage: a connection's id exists only at run "
                   "time (execute-api:ManageConnections on <api>/<stage>/{POST,DELETE}/@connections/<id>)",
}


def role_policies(function: Function, tables: dict[str, dict[str, Any]], secrets_prefix: str) -> list[Any]:
    """The role's `Policies`: one document, one statement per kind of access.

    `tables` maps a table's short name to {"id": logical id, "indexes": [index names]}.
    """
    statements = [
        *_table_statements(_table_access(function, tables), tables),
        _secrets_statement(secrets_prefix),
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": {"Fn::GetAtt": [function.log_group_id, "Arn"]}},
        {"Sid": "Tracing", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
    ]
    if function.name in (API, ADMIN) or function.name in JOBS_SENDING_MAIL:
        statements.append({"Sid": "SendEmail", "Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                           "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
                                                   ":identity/${SenderDomain}"}})
    if function.name in PUSHES_LIVE:
        connections = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/" + API_STAGE
        statements.append({"Sid": "LiveUpdates", "Effect": "Allow", "Action": "execute-api:ManageConnections",
                           "Resource": [{"Fn::Sub": f"{connections}/{verb}/@connections/*"}
                                        for verb in ("POST", "DELETE")]})
    if function.scheduled:
        statements.append({"Sid": "FailedRuns", "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": {"Fn::GetAtt": ["ScheduledRunFailures", "Arn"]}})
    return [{"PolicyName": f"{function.logical_id}Access",
             "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]


def _table_access(function: Function, tables: dict[str, dict[str, Any]]) -> dict[str, Actions]:
    if function.name in (API, ADMIN):
        return {name: WRITE for name in tables}
    if function.name in WEBSOCKET_HANDLERS:
        return WEBSOCKET_TABLES[function.name]
    if function.name not in JOB_TABLES:
        raise KeyError(f"scheduled job {function.name!r} has no table access in infra/access.py JOB_TABLES")
    return JOB_TABLES[function.name]


def _table_statements(access: dict[str, Actions], tables: dict[str, dict[str, Any]]) -> list[Any]:
    """One statement per access level, naming each table and each of its indexes (queries run on an index ARN)."""
    by_level: dict[Actions, list[Any]] = {}
    for name, actions in sorted(access.items()):
        table = tables[name]
        resources = by_level.setdefault(actions, [])
        resources.append({"Fn::GetAtt": [table["id"], "Arn"]})
        resources.extend({"Fn::Sub": f"${{{table['id']}.Arn}}/index/{index}"} for index in table["indexes"])
    sids = {READ: "ReadTables", UPDATE: "UpdateTables", WRITE: "WriteTables", CHECKPOINT: "Checkpoints",
            LOOKUP: "LookUps"}
    return [{"Sid": sids[actions], "Effect": "Allow", "Action": list(actions), "Resource": resources}
            for actions, resources in by_level.items()]


def _secrets_statement(prefix: str) -> dict[str, Any]:
    path = prefix.rstrip("/")
    arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    return {"Sid": "ReadSecrets", "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
            "Resource": [{"Fn::Sub": f"{arn}{path}"}, {"Fn::Sub": f"{arn}{path}/*"}]}
