"""Reconciliation finds what does not add up (balances, gaps, uncredited payments, unmatched charges), only that."""
from __future__ import annotations

import json

from chalicelib.jobs.reconcile import reconcile_books
from chalicelib.services.money.reconcile import IntentSummary, Reconciler
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from tests.unit.admin_harness import AdminHarness
from tests.unit.stripe_fake import FakeGateway


class FakeIntents:
    """The PaymentIntents the fake Stripe made, as reconciliation lists them."""

    def __init__(self, gateway: FakeGateway, created: float) -> None:
        self.gateway = gateway
        self.created = created

    def payment_intents(self) -> list[IntentSummary]:
        return [IntentSummary(id=pi, status="succeeded", amount_cents=c.amount_cents,
                              account_id=c.metadata["account_id"], topup_id=c.metadata["topup_id"],
                              created=self.created) for pi, c in self.gateway.charges.items()]


def _top_up(office: AdminHarness, gateway: FakeGateway, account: Account, amount_cents: int, *, credit: bool) -> str:
    intent_id = office.charge_card(gateway, account, amount_cents)
    if credit:
        office.credit(gateway, intent_id)
    return intent_id


def _reconciler(office: AdminHarness, gateway: FakeGateway | None = None, *, intents_age_seconds: float = 3600
                ) -> Reconciler:
    intents = FakeIntents(gateway, office.clock.now() - intents_age_seconds) if gateway else None
    return Reconciler(intents, office.clock, grace_seconds=600)


def _checks(report) -> list[tuple[str, str | None]]:
    return [(d.check, d.account_id) for d in report.discrepancies]


def test_run__books_kept_by_the_services_are_clean(office):
    # Given a top-up credited by Stripe's event, an order, a revoked (refunded) order and an adjustment
    gateway = FakeGateway()
    account = office.account(balance_cents=500)
    _top_up(office, gateway, account, 1000, credit=True)
    office.order(account)
    revoked = office.order(account)
    office.admin.revoke(str(revoked.activation_id), None, "ops")
    office.admin.accounts.adjust(account.email, -10, "fee", "ops")
    # When the books are reconciled
    report = _reconciler(office, gateway).run()
    # Then nothing is reported, and everything was looked at
    assert report.clean, report.to_json()
    assert report.checked["ledger_entries"] == 6 and report.checked["payment_intents"] == 1


def test_run__a_balance_changed_outside_the_ledger_is_reported(office):
    # Given a balance someone bumped by hand
    account = office.account(balance_cents=500)
    Account(account.account_id).update(actions=[Account.balance_cents.add(7)])
    # When reconciled
    report = _reconciler(office).run()
    # Then exactly that account's balance is reported
    assert _checks(report) == [("balance_mismatch", account.account_id)]
    assert "507" in report.discrepancies[0].detail


def test_run__a_missing_ledger_entry_is_reported_as_a_gap(office):
    # Given an account whose second entry disappeared
    account = office.account(balance_cents=500)
    office.admin.accounts.adjust(account.email, 100, "bonus", "ops")
    office.admin.accounts.adjust(account.email, 50, "bonus", "ops")
    LedgerEntry(account.account_id, sorted(int(e.seq) for e in LedgerEntry.query(account.account_id))[1]).delete()
    # When reconciled
    report = _reconciler(office).run()
    # Then the gap, the broken running balance and the balance are reported
    assert {c for c, _ in _checks(report)} == {"ledger_sequence", "ledger_running_balance", "balance_mismatch"}


def test_run__a_succeeded_payment_never_credited_is_reported_after_the_grace_period(office):
    # Given a payment Stripe took an hour ago whose event never arrived
    gateway = FakeGateway()
    account = office.account()
    intent_id = _top_up(office, gateway, account, 1000, credit=False)
    # When reconciled
    report = _reconciler(office, gateway, intents_age_seconds=3600).run()
    # Then it is reported as not credited
    assert [(d.check, d.ref) for d in report.discrepancies] == [("payment_not_credited", intent_id)]


def test_run__a_payment_inside_the_grace_period_is_not_reported(office):
    # Given a payment taken a minute ago, its event maybe still on the way
    gateway = FakeGateway()
    _top_up(office, gateway, office.account(), 1000, credit=False)
    # When reconciled, Then it is not (yet) a discrepancy
    assert _reconciler(office, gateway, intents_age_seconds=60).run().clean


def test_run__a_charge_with_neither_partner_number_nor_refund_is_reported(office):
    # Given a charge for an activation that failed without getting a number, and was never refunded
    account = office.account(balance_cents=500)
    activation_id = office.unmatched_charge(account)
    office.clock.advance(3600)
    # When reconciled
    report = _reconciler(office).run()
    # Then that charge is reported
    assert [(d.check, d.ref) for d in report.discrepancies] == [("charge_unmatched", activation_id)]


def test_run__with_accounts_checks_only_those(office):
    # Given one broken and one healthy account
    broken = office.account("broken@example.com", balance_cents=500)
    healthy = office.account("healthy@example.com", balance_cents=500)
    Account(broken.account_id).update(actions=[Account.balance_cents.add(1)])
    # When only the healthy one is reconciled, Then it is clean; the broken one alone is not
    assert _reconciler(office).run([healthy.account_id]).clean
    assert _checks(_reconciler(office).run([broken.account_id])) == [("balance_mismatch", broken.account_id)]


def test_reconcile_books__emits_the_discrepancy_count_as_a_metric(office, capsys):
    # Given one planted discrepancy
    account = office.account(balance_cents=500)
    Account(account.account_id).update(actions=[Account.balance_cents.add(1)])
    capsys.readouterr()
    # When the scheduled job's logic runs
    reconcile_books(_reconciler(office).run)
    # Then the EMF metric LedgerDiscrepancies says 1
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "LedgerDiscrepancies" in line]
    assert [m["LedgerDiscrepancies"] for m in emitted if "_aws" in m] == [[1.0]]


def test_run__an_account_that_never_holds_still_is_confirmed_only_once_it_does(office, monkeypatch):
    # Given a balance changed behind the ledger's back, on an account whose money moves between any two reads
    account = office.account(balance_cents=500)
    Account(account.account_id).update(actions=[Account.balance_cents.add(3)])
    read = Account.get

    def moving(*args, **kwargs):
        Account(account.account_id).update(actions=[Account.version.add(1)])
        return read(*args, **kwargs)

    monkeypatch.setattr(Account, "get", moving)
    # When reconciled while it moves, Then nothing is reported on a torn read
    assert _reconciler(office).run().clean
    # When reconciled once it holds still, Then the discrepancy is reported
    monkeypatch.undo()
    assert _checks(_reconciler(office).run()) == [("balance_mismatch", account.account_id)]
