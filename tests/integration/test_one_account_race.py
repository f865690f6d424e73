"""One account under many concurrent postings on DynamoDB Local: read-free debits never overspend, and the ledger a
user reads (GET /v1/ledger, sealed by that read) has exact running balances, even with readers racing the writers.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import InsufficientBalance
from chalicelib.domain.ids import new_id
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.money import DynamoMoneyStore
from tests.integration.reliability_support import checked_books
from tests.support import customer_with_key

pytestmark = pytest.mark.integration

DEBITS, CREDITS, PRICE, THREADS = 60, 6, 70, 12


def _ledger(app_url: str, key: str) -> list[dict[str, Any]]:
    """The whole ledger as the user reads it, oldest first, page by page."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 25}
    while True:
        page = requests.get(f"{app_url}/v1/ledger", params=params, headers={"Authorization": f"Bearer {key}"},
                            timeout=60)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if not page.json().get("next_cursor"):
            return items[::-1]
        params["cursor"] = page.json()["next_cursor"]


def test_post__many_concurrent_orders_on_one_account_never_overspend_and_the_ledger_stays_exact(stack, stack_settings):
    # Given an account holding 20 orders' worth, and credits of CREDITS more orders' worth arriving meanwhile
    customer = customer_with_key(stack_settings, 20 * PRICE)
    wallet, taken, lock, done = Wallet(SystemClock(), DynamoMoneyStore()), [], threading.Lock(), threading.Event()
    read_meanwhile: list[list[dict[str, Any]] | AssertionError] = []

    def order(n: int) -> None:
        try:
            wallet.post(customer.account_id, -PRICE, LedgerKind.ACTIVATION_CHARGE, f"race_{new_id('o')}_{n}",
                        require_active=True)
        except InsufficientBalance:
            return
        with lock:
            taken.append(n)

    def credit(n: int) -> None:
        wallet.post(customer.account_id, PRICE, LedgerKind.ADJUSTMENT, new_id(f"credit{n}"))

    def read_while_writing() -> None:
        while not done.is_set():
            try:
                read_meanwhile.append(_ledger(stack.app_url, customer.api_key))
            except AssertionError as failed:
                read_meanwhile.append(failed)
                return

    # When DEBITS orders and CREDITS credits race from THREADS threads, while the user reads the ledger
    reader = threading.Thread(target=read_while_writing)
    reader.start()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda n: credit(n - DEBITS) if n >= DEBITS else order(n), range(DEBITS + CREDITS)))
    done.set()
    reader.join()
    # Then no more was spent than there was: the balance is what is left, never below zero, and the ledger's sum
    balance, _ = checked_books(customer.account_id)
    assert balance == (20 + CREDITS - len(taken)) * PRICE >= 0
    assert len(taken) >= 20
    # And every entry the user reads, then or while money moved, carries the exact running balance in the order
    # money moved
    ledger = _ledger(stack.app_url, customer.api_key)
    assert _running_sum(ledger) == balance and len(ledger) == int(Account.get(customer.account_id).ledger_seq)
    assert read_meanwhile and all(isinstance(read, list) and _running_sum(read) >= 0 for read in read_meanwhile)


def _running_sum(ledger: list[dict[str, Any]]) -> int:
    running = 0
    for item in ledger:
        running += item["amount_cents"]
        assert item["balance_after_cents"] == running >= 0, item
    return running
