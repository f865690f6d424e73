"""Rentals in this process against DynamoDB Local and the partner simulator: DynamoDB and partner calls per rental
step, and per rental SMS by each path (a partner's push, the upkeep job's poll)."""
from __future__ import annotations

import dataclasses

from bench.activations import COLUMNS, Stepper, fresh_simulator
from bench.arrange import funded_account
from bench.context import BenchContext
from bench.registry import Needs, benchmark
from bench.report import Table
from chalicelib import wiring
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.rental_state import RentRequest
from chalicelib.providers.registry import build_partners
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.rentals import Rental

RUNS = 10
REQUEST = RentRequest("tg", 0, 4)


@benchmark("rental-calls", order=45, needs=Needs.DYNAMODB)
def rental_calls(ctx: BenchContext) -> Table:
    sim = fresh_simulator(ctx)
    # No push URL is given to the partner here (no app runs): every SMS is the poll's or a push made in-process.
    settings = dataclasses.replace(ctx.settings, partners=tuple(dataclasses.replace(p, push_secret=None)
                                                                for p in ctx.settings.partners))
    clock = SystemClock()
    shared = wiring.build_activations(settings, build_partners(settings, clock), clock,
                                      Wallet(clock, DynamoMoneyStore()))
    rentals = wiring.build_rentals(settings, shared.partners, clock, shared.ordering.wallet,
                                   shared.catalog.markup_percent)
    account = funded_account(settings, 10_000_000)
    partner = settings.partners[0].name
    table = Table(f"DynamoDB and partner calls per rental step and per rental SMS ({RUNS} rentals, in-process)",
                  COLUMNS, goal="no partner call per rental SMS pushed; one list call a poll cycle for every rental")
    steps = Stepper(sim, table)
    rentals.prices(REQUEST.country, REQUEST.hours)  # the price list a user reads first (cached a minute)
    rented: list[Rental] = steps.step("rent (debit, create, number from partner)", [account] * RUNS,
                                      lambda acc: rentals.rent(acc, REQUEST))
    for r in rented:
        sim.deliver(str(r.phone), f"Your Telegram code is {int(r.rental_id) % 90000 + 10000}")
    steps.step(f"SMS by poll cycle ({RUNS} rentals with one new SMS each; per SMS)", [None],
               lambda _: rentals.upkeep.poll(), units=RUNS)
    steps.step("SMS by partner push (per SMS)", rented,
               lambda r: rentals.record_push(partner, str(r.partner_rent_id), "Your Telegram code is 24680",
                                             "Telegram", f"pushed to rental {int(r.rental_id)}"))
    steps.step(f"poll cycle without new SMS ({RUNS} open rentals; per cycle)", [None],
               lambda _: rentals.upkeep.poll())
    steps.step("extend by 24 h (price, charge, partner, confirm)", rented,
               lambda r: rentals.extend(account.account_id, int(r.rental_id), 24))
    steps.step("finish", rented, lambda r: rentals.finish(account.account_id, int(r.rental_id)))
    fresh = [rentals.rent(account, REQUEST) for _ in range(RUNS)]
    steps.step("cancel in the window, no SMS (partner asked first; refund)", fresh,
               lambda r: rentals.cancel(account.account_id, int(r.rental_id)))
    table.notes.append("a poll cycle costs one getRentList per renting partner, plus one getRentStatus for each rental "
                       "whose list row shows more SMS than we hold; its DynamoDB queries are one per shard of the "
                       f"partner's active key (WRITE_SHARDS={settings.write_shards}), shared by every rental")
    table.notes.append("a pushed SMS costs no partner call; the push route adds only its signature check")
    return table
