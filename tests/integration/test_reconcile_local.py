"""Incremental reconciliation on DynamoDB Local (the sparse index, conditional take-off, real threads posting while it
runs) and localstripe (payments listed from Stripe's events by when they succeeded, one retrieved by id), in tables
of its own on the stack."""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from pynamodb.transactions import TransactWrite

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id, new_numeric_id
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.providers.stripe_gateway import StripeEvent, StripeGateway
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.money.reconcile import Books, IntentsAfterLedger, Reconciler, StripePaymentIntents
from chalicelib.services.money.reconcile_incremental import Checkpoint, IncrementalReconciler, TimeBudget
from chalicelib.services.money.stripe_events import StripeEvents
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform import runtime_settings
from chalicelib.store.accounts import Account, unreconciled
from chalicelib.store.activations import Activation
from chalicelib.store.base import bind_models, create_tables
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card
from tests.unit.stripe_fake import intent_object

pytestmark = pytest.mark.integration


@pytest.fixture
def own_tables(stack_settings: Settings) -> Iterator[Settings]:
    """Fresh tables on the stack's DynamoDB Local, so what other tests left on the stack's books is not read."""
    settings = replace(stack_settings, table_prefix=f"{new_id('rec')[-10:]}-")
    bind_models(settings)
    create_tables()
    runtime_settings.clear_cache()
    try:
        yield settings
    finally:
        bind_models(stack_settings)
        runtime_settings.clear_cache()


def _charged_card(settings: Settings, account: Account, amount_cents: int) -> tuple[str, str]:
    """A card top-up localstripe charges (succeeded); the stack's app ignores its webhook (not its top-up)."""
    gateway = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base, settings.stripe_webhook_secret)
    topups = TopUps(gateway, settings, SystemClock())
    setup = topups.start_card_setup(account)
    card = confirm_setup_intent_with_test_card(settings.stripe_api_base or "", settings.stripe_publishable_key,
                                               setup.setup_intent_id, setup.client_secret)
    started = topups.start(Account.get(account.account_id, consistent_read=True), amount_cents, card)
    return started.topup_id, started.payment_intent_id


def _credit(settings: Settings, account_id: str, topup_id: str, intent_id: str, amount_cents: int) -> None:
    """Stripe's payment_intent.succeeded applied as the webhook route applies it."""
    intent: dict[str, Any] = intent_object(intent_id, amount_cents, {"account_id": account_id, "topup_id": topup_id})
    gateway = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base, settings.stripe_webhook_secret)
    StripeEvents(gateway, Wallet(SystemClock(), DynamoMoneyStore()), wiring.mailer()).apply(
        StripeEvent(id=new_id("evt"), type="payment_intent.succeeded", created=int(time.time()), data_object=intent))


def _new_account(settings: Settings) -> Account:
    mailer = OutboxMailer(settings.mail_outbox_dir or ".local/outbox", settings.mail_from)
    return AccountsService(settings, SystemClock(), mailer).create_verified_account(f"{new_id('rec')}@example.com")


def test_incremental_run__on_dynamodb_local_and_localstripe_finds_an_uncredited_payment_then_clears(own_tables):
    settings = own_tables
    gateway = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base, settings.stripe_webhook_secret)
    stripe = StripePaymentIntents(gateway, SystemClock())
    incremental = IncrementalReconciler(Reconciler(stripe, SystemClock(), grace_seconds=0), stripe,
                                        stripe_overlap_seconds=0)
    # Given a checkpoint from just now, and an account whose card localstripe charged but whose credit never came
    assert Checkpoint(time.time() - 1, []).save(time.time())
    account = _new_account(settings)
    topup_id, intent_id = _charged_card(settings, account, 700)
    time.sleep(1.1)  # Stripe's event times are whole seconds
    # When the incremental run comes
    report = incremental.run(TimeBudget.fixed(60))
    # Then it lists the payment from Stripe's events and reports it not credited
    assert [(d.check, d.ref) for d in report.discrepancies] == [("payment_not_credited", intent_id)], report.to_json()
    assert stripe.payment_intent(intent_id) is not None and stripe.payment_intent("pi_none_of_ours") is None
    # When the credit lands and the next run comes
    _credit(settings, account.account_id, topup_id, intent_id, 700)
    again = incremental.run(TimeBudget.fixed(60))
    # Then the books are clean and no account is left on the list
    assert again.clean and again.complete, again.to_json()
    assert unreconciled(time.time() + 1) == []



def _unmatched_charge(account_id: str) -> str:
    """A charge for an activation that failed without a number and was never refunded: the planted discrepancy."""
    activation_id = new_numeric_id()
    now = time.time()

    def failed_activation(tx: TransactWrite) -> None:
        tx.save(Activation(activation_id, account_id=account_id, service="tg", country=0, price_cents=1,
                           status=ActivationStatus.FAILED.value, created_at=now, expires_at=now + 1200))

    Wallet(SystemClock(), DynamoMoneyStore()).post(account_id, -1, LedgerKind.ACTIVATION_CHARGE, str(activation_id),
                                                   extra=failed_activation)
    return str(activation_id)


class RecordsWhatItRead(Reconciler):
    """The checks as they are, noting the last ledger entry each account's latest read saw."""

    def __init__(self) -> None:
        super().__init__(None, SystemClock(), grace_seconds=0)
        self.read_up_to: dict[str, int] = {}

    def read(self, scope: set[str] | None, intents: IntentsAfterLedger | None) -> Books:
        books = super().read(scope, intents)
        self.read_up_to.update({account_id: int(entries[-1].seq) for account_id, entries in books.ledgers.items()})
        return books


def test_incremental_runs__racing_real_postings_miss_no_change_and_report_nothing_false(own_tables):
    # Given funded accounts, and incremental runs going on back to back
    accounts = [_new_account(own_tables).account_id for _ in range(8)]
    wallet, planted, stop = Wallet(SystemClock(), DynamoMoneyStore()), [], threading.Event()
    for account_id in accounts:
        wallet.post(account_id, 1_000, LedgerKind.ADJUSTMENT, new_id("fund"))
    reconciler = RecordsWhatItRead()
    incremental = IncrementalReconciler(reconciler, None, accounts_per_batch=3)
    reports = []

    def reconcile() -> None:
        while not stop.is_set():
            reports.append(incremental.run(TimeBudget.fixed(60)))

    runner = threading.Thread(target=reconcile)
    runner.start()
    # When threads post meanwhile at random moments (on the first account: lost refunds), and a run comes once they
    # stopped
    def post(worker: int) -> None:
        rng = random.Random(worker)
        for n in range(20):
            if n % 10 == 9:
                planted.append(_unmatched_charge(accounts[0]))
            else:
                wallet.post(rng.choice(accounts), rng.choice([-3, 2, 5]), LedgerKind.ADJUSTMENT, new_id("race"))

    with ThreadPoolExecutor(max_workers=3) as posters:
        list(posters.map(post, range(3)))
    stop.set()
    runner.join()
    reports.append(incremental.run(TimeBudget.fixed(60)))
    # Then every planted charge was reported and nothing else ever was
    found = {(d.check, d.ref) for report in reports for d in report.discrepancies}
    assert len(reports) >= 2 and found == {("charge_unmatched", cause) for cause in planted}
    # And an account is off the list only once a run read it up to its last posting: no posting went unread
    assert [account_id for account_id, _ in unreconciled(time.time() + 1)] == accounts[:1]
    unread = {a: (reconciler.read_up_to.get(a), max(int(e.seq) for e in LedgerEntry.query(a, consistent_read=True)))
              for a in accounts[1:]}
    assert all(read == last for read, last in unread.values()), unread
