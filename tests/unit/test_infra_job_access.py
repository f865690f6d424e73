"""Each scheduled job, doing real work, makes only DynamoDB and SES calls its own role in the packaged stack allows."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from chalicelib.providers.base import PartnerUnavailable
from chalicelib.providers.mailer import SesMailer
from chalicelib.services.accounts.agreement_notices import AgreementNotices
from chalicelib.services.accounts.agreement_versions import AgreementVersions
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.money.reconcile import Reconciler
from chalicelib.services.money.reconcile_incremental import IncrementalReconciler, TimeBudget
from chalicelib.services.platform.live_updates import LiveUpdates
from chalicelib.services.platform.mail_outbox import DurableMailer
from chalicelib.services.platform.partner_calls import PartnerAction
from chalicelib.services.platform.rate_limit import FAILED_CREDENTIALS, RateLimiter
from chalicelib.store.activations import Activation
from infra.functions import functions
from tests.fake_partner import FakePartner
from tests.unit.activation_support import CODE_SMS, Desk
from tests.unit.infra_support import allows, arn, packaged_dev
from tests.unit.rental_support import busy_rentals

DEPLOYED_PREFIX = "smsrooms-dev-"  # .chalice/config.json, the stage packaged_dev() packages
SENDER_DOMAIN = "example.com"  # the SenderDomain infra_support deploys with

# A transaction's items and a batch's requests are authorised as these actions, one per table.
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
             "Get": "GetItem"}

Call = tuple[str, str]  # (IAM action, ARN as authorised)


class DownForCancel(FakePartner):
    """A partner that cannot take a cancel while `down` (so the cancel is queued for retry_partner_calls)."""

    down = False

    def cancel(self, partner_activation_id: str) -> None:
        if self.down:
            raise PartnerUnavailable("timed out")
        super().cancel(partner_activation_id)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, moto_tables: Any) -> Iterator[list[Call]]:
    """Every DynamoDB and SES call made from now on, as IAM authorises it on the deployed stage."""
    made: list[Call] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if service == "dynamodb":
            made.extend((f"dynamodb:{action}", arn("dynamodb", "table/" + DEPLOYED_PREFIX
                                                   + table.removeprefix(moto_tables.table_prefix)))
                        for action, table in _as_authorised(operation, params))
        elif service == "sesv2" and operation == "SendEmail":
            domain = params["FromEmailAddress"].rsplit("@", 1)[1].rstrip(">")
            made.append(("ses:SendEmail", arn("ses", f"identity/{domain}")))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    yield made


def _as_authorised(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, table or table/index/name): a transaction's items and a batch's requests count per table."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [(_TRANSACT[kind], body["TableName"]) for item in params["TransactItems"] for kind, body in item.items()]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(operation, table) for table in params["RequestItems"]]
    table = params["TableName"] + (f"/index/{params['IndexName']}" if "IndexName" in params else "")
    return [(operation, table)]


def _jobs(desk: Desk, mailer: DurableMailer) -> dict[str, Callable[[], Any]]:
    """What each scheduled job's handler runs (chalicelib/jobs/), over the desk's partner, clock and mailer."""
    rentals = busy_rentals(desk)
    return {
        "rental_upkeep": rentals.upkeep.run,
        "deliver_mail": mailer.deliver_due,
        "refresh_prices": desk.service.refresh_prices,
        "poll_partners": lambda: desk.service.poll_for(0, 1, sleep=lambda _: None),
        "expire_overdue_activations": desk.service.expire_overdue_activations,
        "resolve_stale_pending": desk.service.resolve_stale_pending,
        "deliver_user_webhooks": desk.service.deliver_user_webhooks,
        "retry_partner_calls": desk.service.retry_partner_calls,
        "reconcile": lambda: IncrementalReconciler(Reconciler(None, desk.clock, grace_seconds=600), None).run(
            TimeBudget.fixed(60)),
        "notify_agreement": AgreementNotices(desk.clock, "https://rooms.example").run,
        "close_silent_sockets": _silent_socket(desk).close_silent,
    }


class _Sockets:
    """The WebSocket management API: every post and close goes through (IAM on it is the template's LiveUpdates)."""

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        pass

    def close(self, endpoint: str, connection_id: str) -> None:
        pass


def _live(desk: Desk) -> LiveUpdates:
    return LiveUpdates(desk.clock, _Sockets(), RateLimiter(FAILED_CREDENTIALS, desk.clock), page_origin=None)


def _silent_socket(desk: Desk) -> LiveUpdates:
    """A page's socket that connected and never proved who it is."""
    live = _live(desk)
    live.connect("silent", "https://ws.example/api", None)
    return live


def _watching(desk: Desk, account: Any) -> None:
    """The account's page holds a live socket (signed in for a day), so SMS intake pushes to it."""
    live = desk.service.intake.live = _live(desk)
    token = Credentials(desk.clock, 86_400).issue_session(account.account_id, "127.0.0.1", "test").token
    live.connect("watching", "https://ws.example/api", None)
    live.receive("watching", "https://ws.example/api", json.dumps({"action": "auth", "token": token}), "::1",
                 binary=False)


def _busy_desk(settings: Any) -> Desk:
    """A stage where every job has work: an SMS waiting at the partner for a user with a webhook, numbers past
    their lifetime, an order stuck half-way, a cancel the partner could not take, an agreement to announce."""
    partner = DownForCancel()
    desk = Desk(settings, [partner])
    watcher, waiting = desk.waiting_number(webhook_url="https://hooks.example/sms")
    _watching(desk, watcher)
    desk.deliver(waiting, CODE_SMS)
    desk.stuck_order(desk.account())
    partner.number_failure = None
    _, cancelled = desk.waiting_number()
    partner.down = True
    desk.service.lifecycle.tell_partner(Activation.get(cancelled.activation_id), PartnerAction.CANCEL)
    partner.down = False
    desk.waiting_number()
    AgreementVersions("1", desk.clock).publish("Version 2 of the agreement.", _today(desk.clock), "ops")
    return desk


def _today(clock: Any) -> str:
    return datetime.fromtimestamp(clock.now(), tz=UTC).date().isoformat()


def _refused_mail(desk: Desk) -> DurableMailer:
    """An email SES refused (its sender domain not yet verified), queued; then the domain is verified."""
    mailer = DurableMailer(SesMailer(f"SMS Rooms <no-reply@{SENDER_DOMAIN}>", "us-east-1"), desk.clock)
    mailer.send("ann@example.com", "Verify your email", "…")
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity=SENDER_DOMAIN)
    return mailer


def test_scheduled_jobs__every_call_is_allowed_by_the_jobs_own_role(moto_tables, calls):
    # Given a stage where every job has work, and the packaged stack's roles
    desk = _busy_desk(moto_tables)
    jobs = _jobs(desk, _refused_mail(desk))
    template = packaged_dev()[1]
    assert set(jobs) == {f.name for f in functions() if f.scheduled}
    refused: list[tuple[str, str, str]] = []
    # When each job runs (the clock past every lifetime, backoff and grace period), its calls recorded
    desk.clock.advance(3600)
    for function in (f for f in functions() if f.scheduled):
        calls.clear()
        jobs[function.name]()
        assert calls, f"{function.name} did no work: the scenario does not exercise it"
        # Then its own role allows each call on the deployed stage's table, index or email identity
        refused += [(function.name, action, resource) for action, resource in set(calls)
                    if not allows(template, function.role_id, action, resource)]
    assert refused == []
