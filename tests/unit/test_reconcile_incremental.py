"""Incremental reconciliation checks what changed since its last run, resumes where a deadline stopped it, never
loses a change that commits while it runs; the scheduled job counts a failed run."""
from __future__ import annotations

import json

import pytest

from bench.dynamo import count_dynamodb_calls
from chalicelib.api.admin import COMMANDS, Args
from chalicelib.domain.errors import InvalidInput
from chalicelib.jobs.reconcile import reconcile_books
from chalicelib.services.money.reconcile import Books, IntentSummary, Reconciler
from chalicelib.services.money.reconcile_incremental import Checkpoint, IncrementalReconciler, TimeBudget
from chalicelib.store.accounts import Account, unreconciled
from chalicelib.store.base import create_tables
from tests.unit.admin_harness import ACTOR, AdminHarness
from tests.unit.stripe_fake import FakeGateway

GRACE = 600


class FakeFeed:
    """Stripe's succeeded payments as the fake gateway made them, each succeeding when `succeed` says."""

    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway
        self.succeeded_at: dict[str, float] = {}
        self.retrieved: list[str] = []

    def succeed(self, intent_id: str, at: float) -> None:
        self.succeeded_at[intent_id] = at

    def payment_intents(self) -> list[IntentSummary]:
        return [self._summary(i) for i in self.succeeded_at]

    def succeeded_between(self, since: float, until: float) -> list[IntentSummary]:
        return [self._summary(i) for i, at in self.succeeded_at.items() if since <= at < until]

    def payment_intent(self, intent_id: str) -> IntentSummary | None:
        self.retrieved.append(intent_id)
        return self._summary(intent_id) if intent_id in self.gateway.charges else None

    def _summary(self, intent_id: str) -> IntentSummary:
        charge = self.gateway.charges[intent_id]
        status = "succeeded" if intent_id in self.succeeded_at else "requires_action"
        return IntentSummary(id=intent_id, status=status, amount_cents=charge.amount_cents,
                             account_id=charge.metadata["account_id"], topup_id=charge.metadata["topup_id"],
                             created=self.succeeded_at.get(intent_id, 0.0))


class StopAfter:
    """A deadline that lets `batches` batches start, then says time is up."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def expired(self) -> bool:
        self.left -= 1
        return self.left < 0


NEVER = StopAfter(10_000)


def _incremental(office: AdminHarness, feed: FakeFeed | None = None, reconciler: Reconciler | None = None,
                 per_batch: int = 25) -> IncrementalReconciler:
    reconciler = reconciler or Reconciler(feed, office.clock, grace_seconds=GRACE)
    return IncrementalReconciler(reconciler, feed, accounts_per_batch=per_batch)


def _settle(office: AdminHarness) -> None:
    office.clock.advance(GRACE + 1)


def _ledger_reads(log) -> int:
    return sum(1 for call in log.calls if call.operation == "Query")


def test_run__finds_a_discrepancy_introduced_after_the_last_run(office):
    # Given books checked clean by a first run
    account = office.account(balance_cents=500)
    _settle(office)
    first = _incremental(office).run(NEVER)
    assert first.clean and first.checked["accounts"] == 1, first.to_json()
    # When a charge is posted whose refund is then lost, and the next run comes once it settled
    cause = office.unmatched_charge(account)
    _settle(office)
    report = _incremental(office).run(NEVER)
    # Then that run finds it
    assert [(d.check, d.ref) for d in report.discrepancies] == [("charge_unmatched", cause)]
    assert report.mode == "incremental" and report.complete


def test_run__reads_only_the_accounts_whose_money_moved(office):
    # Given five accounts checked clean, then money moving on one of them
    accounts = [office.account(f"u{n}@example.com", balance_cents=100) for n in range(5)]
    _settle(office)
    assert _incremental(office).run(NEVER).checked["accounts"] == 5
    office.admin.accounts.adjust(accounts[2].email, 25, "bonus", ACTOR)
    _settle(office)
    # When the next run comes
    with count_dynamodb_calls() as log:
        report = _incremental(office).run(NEVER)
    # Then it read that account alone: 16 shard queries of the list, then its ledger, top-ups and activations
    assert report.clean and report.checked["accounts"] == 1 and report.checked["ledger_entries"] == 2
    assert _ledger_reads(log) == 16 + 3
    # And a run with nothing new reads no account at all
    with count_dynamodb_calls() as log:
        assert _incremental(office).run(NEVER).checked.get("accounts", 0) == 0
    assert _ledger_reads(log) == 16


def test_run__waits_for_a_change_to_settle_before_taking_its_account_off_the_list(office):
    # Given an unmatched charge posted a minute ago (its refund could still be on the way)
    account = office.account(balance_cents=500)
    _settle(office)
    _incremental(office).run(NEVER)
    cause = office.unmatched_charge(account)
    office.clock.advance(60)
    # When a run comes before the grace period is over, Then it says nothing of it
    assert _incremental(office).run(NEVER).clean
    # When the next comes after it, Then the charge is found: the young change was not dropped
    _settle(office)
    assert [d.ref for d in _incremental(office).run(NEVER).discrepancies] == [cause]


def test_run__an_account_still_moving_is_read_again_only_once_its_last_change_settled(office):
    # Given an account whose money moved long ago, and again a minute ago
    account = office.account(balance_cents=100)
    _settle(office)
    office.admin.accounts.adjust(account.email, 5, "bonus", ACTOR)
    office.clock.advance(60)
    assert _incremental(office).run(NEVER).checked["accounts"] == 1
    # When runs come before that posting settled, Then they do not read the account again
    office.clock.advance(60)
    assert _incremental(office).run(NEVER).checked.get("accounts", 0) == 0
    # When one comes after, Then it reads it and takes it off the list
    _settle(office)
    after = _incremental(office).run(NEVER)
    assert after.clean and after.checked["accounts"] == 1 and after.checked["ledger_entries"] == 2
    assert unreconciled(office.clock.now()) == []


def test_run__resumes_where_the_deadline_stopped_it(office):
    # Given three accounts whose money moved
    for n in range(3):
        office.account(f"r{n}@example.com", balance_cents=100)
    _settle(office)
    # When a run has time for one batch of one account
    cut = _incremental(office, per_batch=1).run(StopAfter(1))
    # Then it says it stopped with two left, and the next run checks exactly those two
    assert (cut.complete, cut.backlog, cut.checked["accounts"]) == (False, 2, 1)
    rest = _incremental(office, per_batch=1).run(NEVER)
    assert (rest.complete, rest.backlog, rest.checked["accounts"]) == (True, 0, 2)
    assert unreconciled(office.clock.now()) == []


class PostsWhileReading(Reconciler):
    """A posting that commits right after the run read the account's ledger (the race a timestamp mark loses)."""

    def __init__(self, office: AdminHarness, email: str) -> None:
        super().__init__(None, office.clock, grace_seconds=GRACE)
        self.office, self.email = office, email

    def read(self, scope, intents) -> Books:
        books = super().read(scope, intents)
        self.office.admin.accounts.adjust(self.email, 7, "posted during the run", ACTOR)
        return books


def test_run__a_posting_committed_while_the_run_reads_keeps_its_account_on_the_list(office):
    # Given an account whose money moved, and a posting that commits while the run reads it
    account = office.account(balance_cents=100)
    _settle(office)
    _incremental(office, reconciler=PostsWhileReading(office, account.email)).run(NEVER)
    # When the next run comes after that posting settled
    _settle(office)
    report = _incremental(office).run(NEVER)
    # Then it checks the account again and sees the late posting
    assert report.checked["accounts"] == 1 and report.checked["ledger_entries"] == 2, report.to_json()
    assert report.clean


def test_run__a_payment_never_credited_is_reported_by_every_run_until_it_is(office):
    # Given a card payment Stripe took whose event never reached us
    gateway, account = FakeGateway(), office.account()
    feed = FakeFeed(gateway)
    _incremental(office, feed).run(NEVER)
    intent_id = office.charge_card(gateway, account, 1000)
    feed.succeed(intent_id, office.clock.now())
    _settle(office)
    # When runs come, Then each reports it, the second from the carried list (no new Stripe events)
    for _ in range(2):
        report = _incremental(office, feed).run(NEVER)
        assert [(d.check, d.ref) for d in report.discrepancies] == [("payment_not_credited", intent_id)]
        _settle(office)
    # When the event is finally applied and that settles, Then the next run is clean
    office.credit(gateway, intent_id)
    _settle(office)
    assert _incremental(office, feed).run(NEVER).clean
    assert Checkpoint.load(office.clock.now()).carried_intents == []


def test_run__a_credit_for_a_payment_stripe_does_not_show_as_succeeded_is_reported(office):
    # Given a top-up credited although Stripe shows its payment still waiting for 3-D Secure
    gateway, account = FakeGateway(), office.account()
    feed = FakeFeed(gateway)
    intent_id = office.charge_card(gateway, account, 1000)
    office.credit(gateway, intent_id)
    _settle(office)
    # When the incremental run checks the account
    report = _incremental(office, feed).run(NEVER)
    # Then it asked Stripe about that payment and reports the credit, as a full run would
    assert [(d.check, d.ref) for d in report.discrepancies] == [("credit_without_payment", intent_id)]
    assert feed.retrieved == [intent_id]


def test_run__a_change_behind_the_ledgers_back_is_left_to_the_full_run(office):
    # Given books checked clean, then a balance edited by hand (no posting, so no change on the list)
    account = office.account(balance_cents=500)
    _settle(office)
    _incremental(office).run(NEVER)
    Account(account.account_id).update(actions=[Account.balance_cents.add(3)])
    # When the incremental and the full run come
    incremental = _incremental(office).run(NEVER)
    full = Reconciler(None, office.clock, grace_seconds=GRACE).run()
    # Then only the full run, which reads everything, finds it
    assert incremental.clean
    assert [(d.check, d.account_id) for d in full.discrepancies] == [("balance_mismatch", account.account_id)]


def test_checkpoint_save__refuses_to_move_back_a_checkpoint_another_run_saved(office):
    # Given two runs that loaded the same checkpoint
    slow, fast = Checkpoint.load(office.clock.now()), Checkpoint.load(office.clock.now())
    fast.stripe_since, slow.stripe_since = 2_000, 1_000
    # When the fast one saves first, Then the slow one's save is refused and the mark stays
    assert fast.save(office.clock.now()) and not slow.save(office.clock.now())
    assert Checkpoint.load(office.clock.now()).stripe_since == 2_000


def test_reconcile_books__a_failing_run_emits_reconcile_failed_and_raises(capsys, caplog):
    # Given a run that fails (DynamoDB unreachable, a setting missing…)
    def failing() -> None:
        raise ConnectionError("dynamodb unreachable")

    # When the scheduled job's logic runs it, Then the error propagates
    with pytest.raises(ConnectionError):
        reconcile_books(failing)  # type: ignore[arg-type]
    # And ReconcileFailed 1 was emitted, with one log line saying so
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [m["ReconcileFailed"] for m in out if "_aws" in m] == [[1.0]]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == ["reconcile failed"]


def test_admin_reconcile__runs_incremental_by_default_and_everything_with_full(office):
    # Given the admin command's table over the admin service (Stripe left out)
    office.admin.reconciler = Reconciler(None, office.clock, grace_seconds=GRACE)
    office.admin.changes = _incremental(office)

    def command(**args):
        return COMMANDS["reconcile"](office.admin, Args(args), ACTOR)

    # When run without arguments, with full, Then the incremental and the full run answer
    assert command()["mode"] == "incremental"
    assert command(full=True)["mode"] == "full"
    # When given both full and accounts, Then it refuses, naming the field
    with pytest.raises(InvalidInput) as refused:
        command(full=True, emails=["ann@example.com"])
    assert refused.value.details == {"field": "full"}


def test_create_tables__adds_an_index_that_a_kept_table_lacks(moto_tables):
    # Given an accounts table kept from before the `unreconciled` index existed (a local stack's saved data)
    conn = Account._get_connection().connection
    schema = Account._get_schema()
    conn.delete_table(Account.Meta.table_name)
    conn.dispatch("CreateTable", {
        "TableName": Account.Meta.table_name, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "account_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "account_id", "KeyType": "HASH"}]})
    # When the tables are made ready, Then the index is added and can be queried
    create_tables(wait=False)
    described = conn.describe_table(Account.Meta.table_name)
    assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == \
        {i["index_name"] for i in schema["global_secondary_indexes"]} == {"unreconciled"}
    assert unreconciled(0) == []


class LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_time_budget__stops_a_run_five_seconds_before_the_lambda_times_out():
    # Given the Lambda's own count of what is left
    context = LambdaContext(60_000)
    budget = TimeBudget.of_lambda(context)
    # When a minute is left, Then work goes on; when 4 s are left, Then it stops (5 s kept to save and flush)
    assert not budget.expired()
    context.remaining_ms = 4_000
    assert budget.expired()
    # And without a Lambda context (local scheduler, admin command) a fixed budget applies
    assert not TimeBudget.of_lambda(None).expired()
