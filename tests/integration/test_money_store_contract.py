"""The money repository's contract: the same checks on the in-memory fake and on DynamoDB Local.

A service unit test on the fake (tests/fakes/money_store.py) is worth what this contract proves: that the fake
commits, refuses and seals as the DynamoDB store (chalicelib/store/money.py) does. Each test runs once per store.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.ids import new_id
from chalicelib.store.accounts import Account
from chalicelib.store.base import JoinedWrite, connection
from chalicelib.store.ledger import Claim
from chalicelib.store.money import CommitRefused, DynamoMoneyStore, Entry, Funds, MoneyStore
from tests.fakes.money_store import InMemoryMoneyStore

NOW = 1_800_000_000.0


@dataclass
class Books:
    """A store, a way to open an account in it (what registration does) and a joined write that claims a key."""

    store: MoneyStore
    open: Callable[[str, AccountStatus], None]
    claiming: Callable[[str], JoinedWrite]


def _dynamodb() -> Books:
    def open_account(account_id: str, status: AccountStatus) -> None:
        Account(account_id, email=f"{account_id}@example.com", status=status.value, created_at=NOW).save()

    def claiming(key: str) -> JoinedWrite:
        return lambda tx: tx.save(Claim(key, value="joined"), condition=Claim.key.does_not_exist())

    return Books(DynamoMoneyStore(), open_account, claiming)


def _memory() -> Books:
    fake = InMemoryMoneyStore()
    return Books(fake, fake.open_account, lambda key: fake.claiming(key, "joined"))


@pytest.fixture(params=["memory", "dynamodb_local"])
def books(request: pytest.FixtureRequest) -> Iterator[Books]:
    if request.param == "dynamodb_local":
        settings: Settings = request.getfixturevalue("stack_settings")
        assert settings.dynamodb_endpoint
        yield _dynamodb()
    else:
        yield _memory()


def _account(books: Books, status: AccountStatus = AccountStatus.ACTIVE) -> str:
    account_id = new_id("acc")
    books.open(account_id, status)
    return account_id


def _entry(account_id: str, seq: int, amount: int, balance_after: int | None = None) -> tuple[Entry, str]:
    cause = new_id("c")
    return (Entry(account_id, seq, new_id("le"), amount, balance_after, LedgerKind.ADJUSTMENT, cause, NOW),
            f"ledger#adjustment#{cause}")


def _funds(books: Books, account_id: str) -> Funds:
    funds = books.store.funds(account_id)
    assert funds is not None
    return funds


def _first_credit(books: Books, account_id: str, amount: int, seq: int = 1) -> Funds:
    """A checked commit on a fresh account: it starts the read-free bookkeeping."""
    books.store.commit_checked(_funds(books, account_id), [_entry(account_id, seq, amount, amount)],
                               require_active=False)
    return _funds(books, account_id)


def test_funds__an_unknown_account_is_none_and_a_new_one_is_empty(books: Books) -> None:
    account_id = _account(books)
    assert books.store.funds(new_id("acc")) is None
    funds = _funds(books, account_id)
    assert (funds.balance_cents, funds.held_cents, funds.ledger_seq, funds.status, funds.read_free) == (
        0, 0, 0, AccountStatus.ACTIVE, False)
    assert books.store.seal(account_id) is None and books.store.entries(account_id) == []


def test_commit_checked__writes_balance_entry_and_claim_together_and_starts_read_free_postings(books: Books) -> None:
    account_id = _account(books)
    entry, claim = _entry(account_id, 7, 1000, 1000)
    books.store.commit_checked(_funds(books, account_id), [(entry, claim)], require_active=False)
    funds = _funds(books, account_id)
    assert (funds.balance_cents, funds.spendable_cents, funds.ledger_seq, funds.version) == (1000, 1000, 1, 1)
    assert (funds.ledger_floor, funds.credit_last, funds.sealed_seq, funds.sealed_count,
            funds.sealed_balance_cents, funds.read_free) == (7, 7, 7, 1, 1000, True)
    assert books.store.entries(account_id) == [entry] and books.store.entry(account_id, 7) == entry
    assert books.store.claimed(claim)


def test_commit_checked__a_stale_version_is_refused_and_writes_nothing(books: Books) -> None:
    account_id = _account(books)
    stale = _funds(books, account_id)
    _first_credit(books, account_id, 1000)
    entry, claim = _entry(account_id, 2, 5, 1005)
    with pytest.raises(CommitRefused):
        books.store.commit_checked(stale, [(entry, claim)], require_active=False)
    assert _funds(books, account_id).balance_cents == 1000
    assert len(books.store.entries(account_id)) == 1 and not books.store.claimed(claim)


def test_commit_unread__a_debit_the_money_covers_commits_without_balance_after(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    entry, claim = _entry(account_id, 5, -300)
    books.store.commit_unread(account_id, [(entry, claim)], spend=300, require_active=True)
    funds = _funds(books, account_id)
    assert (funds.balance_cents, funds.spendable_cents, funds.ledger_seq, funds.credit_last) == (700, 700, 2, 1)
    assert books.store.claimed(claim)
    assert books.store.entry(account_id, 5) == entry and entry.balance_after_cents is None


def test_commit_unread__a_debit_over_the_spendable_is_refused_showing_the_account(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 100)
    entry, claim = _entry(account_id, 5, -300)
    with pytest.raises(CommitRefused) as refused:
        books.store.commit_unread(account_id, [(entry, claim)], spend=300, require_active=False)
    # The refusal carries the account as the condition saw it: the wallet explains it without reading
    assert refused.value.seen is not None and refused.value.seen.spendable_cents == 100
    assert not refused.value.conflict
    assert _funds(books, account_id).balance_cents == 100
    assert books.store.entry(account_id, 5) is None and not books.store.claimed(claim)


def test_commit_unread__a_blocked_account_or_a_key_out_of_its_place_is_refused(books: Books) -> None:
    blocked = _account(books, AccountStatus.BLOCKED)
    _first_credit(books, blocked, 1000)
    with pytest.raises(CommitRefused) as refused:
        books.store.commit_unread(blocked, [_entry(blocked, 5, -1)], spend=1, require_active=True)
    assert refused.value.seen is not None and refused.value.seen.status is AccountStatus.BLOCKED
    account_id = _account(books)
    _first_credit(books, account_id, 1000, seq=10)
    with pytest.raises(CommitRefused):  # at or below the floor: that part of the ledger is final
        books.store.commit_unread(account_id, [_entry(account_id, 10, 5)], spend=None, require_active=False)
    books.store.commit_unread(account_id, [_entry(account_id, 50, 10)], spend=None, require_active=False)
    with pytest.raises(CommitRefused):  # below the newest credit: a debit never sorts before money it spent
        books.store.commit_unread(account_id, [_entry(account_id, 40, -1)], spend=1, require_active=False)
    assert books.store.entry(account_id, 40) is None and _funds(books, account_id).credit_last == 50


def test_commit_unread__a_cause_claimed_before_is_refused(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    entry, claim = _entry(account_id, 5, -1)
    books.store.commit_unread(account_id, [(entry, claim)], spend=1, require_active=False)
    again = Entry(account_id, 6, new_id("le"), -1, None, LedgerKind.ADJUSTMENT, entry.cause_id, NOW)
    with pytest.raises(CommitRefused) as refused:
        books.store.commit_unread(account_id, [(again, claim)], spend=1, require_active=False)
    assert (refused.value.conflict, refused.value.seen) == (False, None)
    assert _funds(books, account_id).balance_cents == 999 and books.store.entry(account_id, 6) is None


def test_commit_unread__a_key_another_entry_took_is_refused_with_the_account_unseen(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    taken, claim = _entry(account_id, 5, -1)
    books.store.commit_unread(account_id, [(taken, claim)], spend=1, require_active=False)
    # A second posting at the same key (another container's clock, say) is refused without the account: its
    # condition held, so the wallet reads the key and draws above it
    with pytest.raises(CommitRefused) as refused:
        books.store.commit_unread(account_id, [_entry(account_id, 5, -2)], spend=2, require_active=False)
    assert (refused.value.conflict, refused.value.seen) == (False, None)
    assert books.store.entry(account_id, 5) == taken and _funds(books, account_id).balance_cents == 999


def test_commit_unread__several_entries_commit_together_or_not_at_all(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 100)
    with pytest.raises(CommitRefused):
        books.store.commit_unread(account_id, [_entry(account_id, 5, -60), _entry(account_id, 6, -60)], spend=120,
                                  require_active=True)
    assert books.store.entries(account_id, after_seq=1) == []
    books.store.commit_unread(account_id, [_entry(account_id, 5, -60), _entry(account_id, 6, -40)], spend=100,
                              require_active=True)
    funds = _funds(books, account_id)
    assert (funds.balance_cents, funds.spendable_cents, funds.ledger_seq, funds.version) == (0, 0, 3, 2)


def test_commit_unread__a_joined_write_refused_refuses_the_money_too(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    key = f"order#{new_id('k')}"
    books.store.commit_unread(account_id, [_entry(account_id, 5, -1)], spend=1, require_active=False,
                              joined=[books.claiming(key)])
    second, claim = _entry(account_id, 6, -1)
    with pytest.raises(CommitRefused) as refused:
        books.store.commit_unread(account_id, [(second, claim)], spend=1, require_active=False,
                                  joined=[books.claiming(key)])
    assert refused.value.seen is None
    assert books.store.claimed(key) and not books.store.claimed(claim)
    assert books.store.entry(account_id, 6) is None and _funds(books, account_id).balance_cents == 999


def test_seal__writes_the_running_balance_on_read_free_entries_in_key_order_and_raises_the_floor(books: Books
                                                                                                  ) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    for seq, amount in ((10, -300), (20, 50), (30, -200)):
        books.store.commit_unread(account_id, [_entry(account_id, seq, amount)], spend=-amount if amount < 0 else None,
                                  require_active=False)
    frontier = books.store.seal(account_id)
    assert frontier is not None and frontier >= 30
    entries = books.store.entries(account_id, newest_first=False)
    assert [(e.seq, e.balance_after_cents) for e in entries] == [(1, 1000), (10, 700), (20, 750), (30, 550)]
    funds = _funds(books, account_id)
    assert (funds.ledger_floor, funds.sealed_seq, funds.sealed_count, funds.sealed_balance_cents) == (
        frontier, frontier, 4, 550)
    assert books.store.seal(account_id) == frontier  # again: nothing committed since
    with pytest.raises(CommitRefused):  # nothing commits at or below what is sealed
        books.store.commit_unread(account_id, [_entry(account_id, frontier, 1)], spend=None, require_active=False)


def test_entries__page_by_key_either_way_up_to_a_bound(books: Books) -> None:
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    for seq in (10, 20, 30):
        books.store.commit_unread(account_id, [_entry(account_id, seq, 1)], spend=None, require_active=False)
    assert [e.seq for e in books.store.entries(account_id, limit=2)] == [30, 20]
    assert [e.seq for e in books.store.entries(account_id, after_seq=1, up_to=20, newest_first=False)] == [10, 20]


def test_commit_hold__moves_money_out_of_the_spendable_under_the_version_read(books: Books) -> None:
    account_id = _account(books)
    funds = _first_credit(books, account_id, 1000)
    books.store.commit_hold(funds, 400)
    held = _funds(books, account_id)
    assert (held.balance_cents, held.held_cents, held.spendable_cents, held.available_cents) == (1000, 400, 600, 600)
    with pytest.raises(CommitRefused):
        books.store.commit_hold(funds, 0)  # the version it was read at is gone
    assert _funds(books, account_id).held_cents == 400


def test_commit_unread__sent_again_after_it_committed_is_answered_as_committed(stack_settings: Settings) -> None:
    # Given DynamoDB's store, and an SDK that sends a transaction again although the first send committed (its
    # answer lost to a timeout, as on a slow network). The wallet counts on this: botocore gives every
    # TransactWriteItems call an idempotency token (ClientRequestToken) and keeps it for its retries.
    books = _dynamodb()
    account_id = _account(books)
    _first_credit(books, account_id, 1000)
    sent_again: list[int] = []

    def once_more(response: Any, attempts: int, **_: Any) -> float | None:
        if not sent_again and response is not None and response[0].status_code == 200:
            sent_again.append(attempts)
            return 0.0  # retry now
        return None

    events = connection().client.meta.events
    events.register("needs-retry.dynamodb.TransactWriteItems", once_more, unique_id="send-again")
    try:
        # When a debit commits and its transaction is sent once more
        books.store.commit_unread(account_id, [_entry(account_id, 5, -300)], spend=300, require_active=True)
    finally:
        events.unregister("needs-retry.dynamodb.TransactWriteItems", unique_id="send-again")
    # Then the second send is answered as the first (its idempotency token), not refused, and it counted once
    assert sent_again == [1]
    funds = _funds(books, account_id)
    assert (funds.balance_cents, funds.ledger_seq) == (700, 2)
