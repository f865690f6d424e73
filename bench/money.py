"""DynamoDB calls and capacity per money movement: wallet debit, card top-up (charge, webhook credit), replayed event.

Runs in this process against DynamoDB Local and localstripe, through the same services the routes call.
"""
from __future__ import annotations

import time
from typing import Any

from bench.arrange import funded_account
from bench.context import BenchContext
from bench.dynamo import CallLog, describe, measure
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.stats import ms, percentile
from chalicelib import wiring
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.providers.stripe_gateway import StripeEvent, StripeGateway
from chalicelib.services.money.stripe_events import StripeEvents
from chalicelib.services.money.top_ups import TopUps, TopUpStarted
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.money import DynamoMoneyStore
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card

RUNS = 10
COLUMNS = ["operation", "DynamoDB calls/op", "calls by API", "capacity units/op", "p50 ms", "max ms"]


def add_calls_row(table: Table, label: str, log: CallLog, seconds: list[float]) -> None:
    """One row of the calls-per-operation tables: counts and capacity per operation, median and worst latency."""
    calls, breakdown, units = describe(log, len(seconds))
    table.add(label, calls, breakdown, units, ms(percentile(seconds, 50)), ms(max(seconds)))


def _succeeded_event(started: TopUpStarted, account_id: str, amount_cents: int) -> StripeEvent:
    intent: dict[str, Any] = {
        "id": started.payment_intent_id, "object": "payment_intent", "status": "succeeded", "amount": amount_cents,
        "amount_received": amount_cents, "currency": "usd",
        "metadata": {"account_id": account_id, "topup_id": started.topup_id},
    }
    return StripeEvent(id=new_id("evt"), type="payment_intent.succeeded", created=int(time.time()),
                       data_object=intent)


@benchmark("money-calls", order=20, needs=Needs.DYNAMODB)
def money_calls(ctx: BenchContext) -> Table:
    settings = ctx.settings
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    table = Table(f"DynamoDB calls per money movement ({RUNS} of each, in-process, DynamoDB Local)", COLUMNS,
                  goal="one transaction per balance change")
    account = funded_account(settings, 10_000_000)
    log, seconds = measure(RUNS, lambda i: wallet.post(account.account_id, -100, LedgerKind.ACTIVATION_CHARGE,
                                                       new_id("debit")))
    add_calls_row(table, "wallet debit (Wallet.post)", log, seconds)

    gateway = StripeGateway(secret_key=settings.stripe_secret_key, api_base=settings.stripe_api_base,
                            webhook_secret=settings.stripe_webhook_secret)
    topups = TopUps(gateway, settings, wallet.clock)
    setup = topups.start_card_setup(account)
    card = confirm_setup_intent_with_test_card(settings.stripe_api_base or "", settings.stripe_publishable_key,
                                               setup.setup_intent_id, setup.client_secret)
    account = Account.get(account.account_id, consistent_read=True)
    started: list[TopUpStarted] = []
    log, seconds = measure(RUNS, lambda i: started.append(topups.start(account, 500, card)))
    add_calls_row(table, "top-up start (charge the saved card)", log, seconds)

    events = StripeEvents(gateway, wallet, wiring.mailer())
    succeeded = [_succeeded_event(s, account.account_id, 500) for s in started]
    log, seconds = measure(RUNS, lambda i: events.apply(succeeded[i]))
    add_calls_row(table, "top-up credit (payment_intent.succeeded)", log, seconds)
    log, seconds = measure(RUNS, lambda i: events.apply(succeeded[i]))
    add_calls_row(table, "replayed payment_intent.succeeded (no credit)", log, seconds)
    table.notes += ["latencies are DynamoDB Local's on this machine, not DynamoDB's; the call counts carry over",
                    "capacity units as DynamoDB Local reports them: 4 per item of a transactional write, where "
                    "DynamoDB charges 2 per KB; a failed transaction reports none"]
    return table
