"""The wallet: every balance change is a ledger entry, debits are conditional, each cause applies once.

Its rules run on the in-memory money store (tests/fakes/money_store.py), which the contract test
(tests/integration/test_money_store_contract.py) holds to the DynamoDB store.
"""
from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.domain import ids
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import AlreadyApplied, Forbidden, InsufficientBalance, NotFound
from chalicelib.domain.ids import new_numeric_id
from chalicelib.services.money.wallet import Charge, Wallet
from chalicelib.store.money import Entry
from tests.fakes.money_store import InMemoryMoneyStore


@pytest.fixture
def store() -> InMemoryMoneyStore:
    return InMemoryMoneyStore()


def _wallet(store: InMemoryMoneyStore, account_id: str = "acc_1", status: AccountStatus = AccountStatus.ACTIVE
            ) -> Wallet:
    """A wallet over `store`, with the account opened in it (what registration does)."""
    store.open_account(account_id, status)
    return Wallet(SystemClock(), store)


def _balance(store: InMemoryMoneyStore, account_id: str = "acc_1") -> int:
    return store.accounts[account_id].balance_cents


def _ledger_sum(store: InMemoryMoneyStore, account_id: str = "acc_1") -> int:
    return sum(e.amount_cents for (aid, _), e in store.ledger.items() if aid == account_id)


def _older_scheme(store: InMemoryMoneyStore, *amounts: int) -> None:
    """acc_1 as the older scheme left it: entries 1, 2… with their balances after, no spendable amount or floor."""
    balance = 0
    for seq, amount in enumerate(amounts, start=1):
        balance += amount
        store.ledger[("acc_1", seq)] = Entry("acc_1", seq, f"le_{seq}", amount, balance, LedgerKind.TOP_UP,
                                             f"old_{seq}", 0)
    store.accounts["acc_1"] = dataclasses.replace(store.accounts["acc_1"], balance_cents=balance,
                                                  ledger_seq=len(amounts))


def test_post__credit_then_debit_writes_entries_with_exact_balance_after(store):
    # Given an account
    wallet = _wallet(store)
    # When it is credited 1000 and debited 250
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    posting = wallet.post("acc_1", -250, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then the balance and the entries agree, in the order they were posted
    assert _balance(store) == 750
    entries = wallet.entries("acc_1", newest_first=False)
    assert [(e.amount_cents, e.balance_after_cents) for e in entries] == [(1000, 1000), (-250, 750)]
    assert entries[1].seq == posting.seq > entries[0].seq


def test_post__same_cause_twice_is_refused_and_counted_once(store):
    # Given a credit already applied for a payment
    wallet = _wallet(store)
    wallet.post("acc_1", 500, LedgerKind.TOP_UP, "pi_dup")
    # When the same cause is posted again
    with pytest.raises(AlreadyApplied):
        wallet.post("acc_1", 500, LedgerKind.TOP_UP, "pi_dup")
    # Then the money was counted once
    assert _balance(store) == 500
    assert _ledger_sum(store) == 500


def test_post__debit_over_balance_is_refused_and_writes_nothing(store):
    # Given 100 cents
    wallet = _wallet(store)
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    # When 101 are debited
    with pytest.raises(InsufficientBalance):
        wallet.post("acc_1", -101, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then nothing changed
    assert _balance(store) == 100
    assert len(wallet.entries("acc_1")) == 1


def test_post__held_money_cannot_be_spent(store):
    # Given 1000 cents of which 800 are held for a refund request
    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    wallet.change_hold("acc_1", 800)
    # When 300 are debited
    with pytest.raises(InsufficientBalance):
        wallet.post("acc_1", -300, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then 200 can still be spent
    wallet.post("acc_1", -200, LedgerKind.ACTIVATION_CHARGE, "act_2")
    assert wallet.entries("acc_1")[0].balance_after_cents == 800


def test_post__dispute_may_go_negative_when_allowed(store):
    # Given 100 cents
    wallet = _wallet(store)
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    # When a dispute takes back 500
    wallet.post("acc_1", -500, LedgerKind.DISPUTE, "dp_1", allow_negative=True)
    # Then the balance is negative and still equals the ledger
    assert wallet.entries("acc_1")[0].balance_after_cents == -400
    assert _ledger_sum(store) == -400


def test_post__require_active_refuses_a_blocked_account(store):
    # Given a blocked account with money
    wallet = _wallet(store, status=AccountStatus.BLOCKED)
    wallet.post("acc_1", 100, LedgerKind.ADJUSTMENT, "adm_1")
    # When an order debits it
    with pytest.raises(Forbidden):
        wallet.post("acc_1", -10, LedgerKind.ACTIVATION_CHARGE, "act_1", require_active=True)
    # Then nothing was taken
    assert _balance(store) == 100


def test_post__unknown_account_is_not_found(store):
    with pytest.raises(NotFound):
        Wallet(SystemClock(), store).post("nobody", 1, LedgerKind.ADJUSTMENT, "x")


def test_post__float_amount_is_a_programming_error(store):
    with pytest.raises(TypeError):
        _wallet(store).post("acc_1", 1.5, LedgerKind.ADJUSTMENT, "x")  # type: ignore[arg-type]


_ops = st.lists(st.tuples(st.sampled_from(["credit", "debit", "repeat"]), st.integers(1, 5000)), max_size=25)


@hsettings(max_examples=30, deadline=None)
@given(ops=_ops)
def test_post__random_sequences_keep_balance_equal_to_ledger_and_never_negative(ops):
    # Given a fresh account per example
    store = InMemoryMoneyStore()
    wallet = _wallet(store)
    applied: list[str] = []
    # When random credits, debits and retries of earlier causes are posted
    for i, (op, amount) in enumerate(ops):
        kind, cause, signed = {
            "credit": (LedgerKind.TOP_UP, f"c{i}", amount),
            "debit": (LedgerKind.ACTIVATION_CHARGE, f"d{i}", -amount),
            "repeat": (LedgerKind.TOP_UP, applied[0] if applied else f"c{i}", amount),
        }[op]
        try:
            wallet.post("acc_1", signed, kind, cause)
            if kind is LedgerKind.TOP_UP:
                applied.append(cause)
        except (InsufficientBalance, AlreadyApplied):
            pass
    # Then the balance is the ledger's sum, never negative, and each cause appears once
    balance = _balance(store)
    entries = wallet.entries("acc_1", limit=1000)
    assert balance == sum(e.amount_cents for e in entries) >= 0
    causes = [(e.kind, e.cause_id) for e in entries]
    assert len(causes) == len(set(causes))


def test_post__debit_reads_nothing_and_its_balance_after_is_sealed_by_the_first_reader(store):
    # Given an account credited 1000 (its first posting, which sets it up for read-free postings)
    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    # When it is debited 300 and 200
    first = wallet.post("acc_1", -300, LedgerKind.ACTIVATION_CHARGE, "act_1")
    second = wallet.post("acc_1", -200, LedgerKind.ACTIVATION_CHARGE, "act_2")
    # Then the entries exist at once, their balance after is not yet known...
    assert store.ledger[("acc_1", first.seq)].balance_after_cents is None
    # ...and the first reader writes it: the running sum in the order they committed
    assert [e.balance_after_cents for e in wallet.entries("acc_1")] == [500, 700, 1000]
    assert store.ledger[("acc_1", second.seq)].balance_after_cents == 500
    account = store.accounts["acc_1"]
    assert (account.sealed_count, account.sealed_balance_cents, account.spendable_cents) == (3, 500, 500)


def test_post__key_at_or_below_the_floor_draws_one_above_it(store):
    # Given an account whose ledger a reader sealed far ahead of this clock (another container's runs fast)
    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    ahead = wallet.post("acc_1", 100, LedgerKind.ADJUSTMENT, "adm_1").seq + 10**9
    store.accounts["acc_1"] = dataclasses.replace(store.accounts["acc_1"], ledger_floor=ahead)
    # When a debit draws its key from this clock
    posting = wallet.post("acc_1", -250, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then it still commits, above the floor, once
    assert posting.seq > ahead
    assert _balance(store) == 850 == _ledger_sum(store)


def test_post__debit_never_sorts_before_a_credit_it_may_have_spent(store):
    # Given an account whose newest credit has a key ahead of this clock
    wallet = _wallet(store)
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    ahead = new_numeric_id() + 10**9
    store.accounts["acc_1"] = dataclasses.replace(store.accounts["acc_1"], credit_last=ahead)
    # When a debit is posted
    posting = wallet.post("acc_1", -100, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then its entry sorts after that credit: the running balance in the ledger's order never dips below zero
    assert posting.seq > ahead
    assert [e.amount_cents for e in store.entries("acc_1", newest_first=False)] == [100, -100]


def test_post__account_from_before_read_free_postings_keeps_its_ledger_and_continues_it(store):
    # Given an account written by the older scheme: entries 1 and 2, no spendable amount or newest key
    wallet = _wallet(store)
    _older_scheme(store, 1000, -100)
    # When it is debited twice
    wallet.post("acc_1", -50, LedgerKind.ACTIVATION_CHARGE, "act_1")
    wallet.post("acc_1", -25, LedgerKind.ACTIVATION_CHARGE, "act_2")
    # Then the new entries follow the old ones with exact balances after, and the count goes on
    assert [(e.amount_cents, e.balance_after_cents) for e in wallet.entries("acc_1", newest_first=False)] == [
        (1000, 1000), (-100, 900), (-50, 850), (-25, 825)]
    assert (store.accounts["acc_1"].ledger_seq, store.accounts["acc_1"].spendable_cents) == (4, 825)


def _charges(*causes_and_amounts: tuple[str, int]) -> list[Charge]:
    return [Charge(amount, LedgerKind.ACTIVATION_CHARGE, cause) for cause, amount in causes_and_amounts]


def test_debit_together__each_charge_its_own_entry_in_one_balance_change(store):
    # Given 1000 cents
    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    # When three activations are charged together
    postings = wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60), ("a3", 75)))
    # Then each has its entry at ascending keys, in order, and the first reader (even in the batch's own
    # millisecond: the batch's keys were drawn together, none is the reader's) seals exact balances after
    assert [p.seq for p in postings] == sorted({p.seq for p in postings})
    assert [(e.cause_id, e.amount_cents, e.balance_after_cents) for e in wallet.entries("acc_1")] == [
        ("a3", -75, 805), ("a2", -60, 880), ("a1", -60, 940), ("pi_1", 1000, 1000)]
    assert _balance(store) == 805 == _ledger_sum(store)
    assert (store.accounts["acc_1"].ledger_seq, store.accounts["acc_1"].spendable_cents) == (4, 805)


def test_debit_together__a_posting_right_after_a_batch_takes_none_of_its_keys(store, monkeypatch):
    # Given 1000 cents, and the clock standing still (everything below happens in one millisecond)
    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    monkeypatch.setattr(ids.time, "time", lambda: 1_800_000_000.0)
    # When three activations are charged together and the next key is drawn at once
    postings = wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60), ("a3", 75)))
    # Then that key is none of the batch's (a later posting on the account cannot collide with the batch)
    assert ids.new_numeric_id() not in {p.seq for p in postings}


def test_debit_together__an_account_from_before_read_free_postings_is_charged_with_exact_balances(store):
    # Given an account written by the older scheme: one entry, no spendable amount or newest key
    wallet = _wallet(store)
    _older_scheme(store, 500)
    # When two charges are debited together (the account as authentication read it)
    wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 40)), known=store.funds("acc_1"))
    # Then both follow the old entry with their balances after, and the account is ready for read-free postings
    assert [(e.amount_cents, e.balance_after_cents) for e in wallet.entries("acc_1", newest_first=False)] == [
        (500, 500), (-60, 440), (-40, 400)]
    account = store.accounts["acc_1"]
    assert (account.balance_cents, account.spendable_cents, account.ledger_seq) == (400, 400, 3)


def test_debit_together__short_of_the_sum_is_refused_and_writes_nothing(store):
    # Given 100 cents, enough for one of two 60-cent charges but not both
    wallet = _wallet(store)
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    # When both are charged together
    with pytest.raises(InsufficientBalance):
        wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60)))
    # Then none was: all or nothing
    assert _balance(store) == 100
    assert [e.cause_id for e in store.entries("acc_1")] == ["pi_1"]


def test_debit_together__a_cause_charged_before_refuses_the_whole_batch(store):
    # Given an activation already charged
    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    wallet.post("acc_1", -60, LedgerKind.ACTIVATION_CHARGE, "a2")
    # When a batch naming it again is charged
    with pytest.raises(AlreadyApplied):
        wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60)))
    # Then nothing of the batch was written
    assert _balance(store) == 940 == _ledger_sum(store)


def test_debit_together__a_blocked_account_cannot_be_charged(store):
    with pytest.raises(Forbidden):
        _wallet(store, status=AccountStatus.BLOCKED).debit_together("acc_1", _charges(("a1", 1)))


def test_ledger_keys__strictly_increase_past_a_millisecond_s_share_and_when_the_clock_steps_back(monkeypatch):
    # Given the clock standing still, as on a busy container within one millisecond
    monkeypatch.setattr(ids.time, "time", lambda: 1_800_000_000.0)
    # When more keys are drawn than a millisecond's 4,096, one by one and in batches, and then the clock steps back
    drawn = [ids.new_numeric_id() for _ in range(3000)] + ids.new_numeric_ids(2000) + [ids.new_numeric_id()]
    monkeypatch.setattr(ids.time, "time", lambda: 1_799_999_999.0)
    drawn += [ids.new_numeric_id() for _ in range(10)]
    # Then every key is above the one before (a debit's key is always above the account's newest credit)
    assert all(later > earlier for earlier, later in itertools.pairwise(drawn))



def test_post__a_ledger_key_another_posting_took_first_is_retried_above_it(store, monkeypatch):
    # Given 1000 cents credited, and a charge at the key right above the credit (another container's, say)
    from chalicelib.services.money import wallet as wallet_module

    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    credit_key = store.accounts["acc_1"].credit_last
    assert credit_key is not None
    draws = iter([credit_key + 1, credit_key - 5])  # then this container's clock, behind the other's
    monkeypatch.setattr(wallet_module, "new_numeric_id", lambda: next(draws, None) or new_numeric_id())
    wallet.post("acc_1", -100, LedgerKind.ACTIVATION_CHARGE, "act_other")
    # When this container charges 300: its first key is below the credit, the next allowed one is taken
    charge = wallet.post("acc_1", -300, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then it is charged once, above both, and the books hold
    assert charge.seq > credit_key + 1
    assert _balance(store) == 600 == _ledger_sum(store)
    assert [e.cause_id for e in wallet.entries("acc_1")] == ["act_1", "act_other", "pi_1"]


def test_debit_together__keys_another_posting_took_first_are_retried_above_them(store, monkeypatch):
    # Given 1000 cents credited, a charge at the key right above the credit, and this container's clock behind
    from chalicelib.services.money import wallet as wallet_module

    wallet = _wallet(store)
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    credit_key = store.accounts["acc_1"].credit_last
    assert credit_key is not None
    monkeypatch.setattr(wallet_module, "new_numeric_id", lambda: credit_key + 1)
    wallet.post("acc_1", -100, LedgerKind.ACTIVATION_CHARGE, "act_other")
    monkeypatch.setattr(wallet_module, "new_numeric_ids", lambda count: [credit_key - 9 + i for i in range(count)])
    # When two activations are charged together
    postings = wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 75)))
    # Then both are charged once, above the taken key, and the books hold
    assert min(p.seq for p in postings) > credit_key + 1
    assert _balance(store) == 765 == _ledger_sum(store)
