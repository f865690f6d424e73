"""The wallet: every balance change is a ledger entry, debits are conditional, each cause applies once."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import AlreadyApplied, Forbidden, InsufficientBalance, NotFound
from chalicelib.domain.ids import new_numeric_id
from chalicelib.services.money.wallet import Charge, Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry


def _account(account_id: str = "acc_1", status: AccountStatus = AccountStatus.ACTIVE) -> Account:
    acc = Account(account_id, email=f"{account_id}@example.com", status=status.value, created_at=0)
    acc.save()
    return acc


def _ledger_sum(account_id: str) -> int:
    return sum(e.amount_cents for e in LedgerEntry.query(account_id))


def test_post__credit_then_debit_writes_entries_with_exact_balance_after(moto_tables):
    # Given an account
    _account()
    wallet = Wallet(SystemClock())
    # When it is credited 1000 and debited 250
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    posting = wallet.post("acc_1", -250, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then the balance and the entries agree, in the order they were posted
    assert Account.get("acc_1").balance_cents == 750
    entries = wallet.entries("acc_1", newest_first=False)
    assert [(e.amount_cents, e.balance_after_cents) for e in entries] == [(1000, 1000), (-250, 750)]
    assert entries[1].seq == posting.seq > entries[0].seq


def test_post__same_cause_twice_is_refused_and_counted_once(moto_tables):
    # Given a credit already applied for a payment
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 500, LedgerKind.TOP_UP, "pi_dup")
    # When the same cause is posted again
    with pytest.raises(AlreadyApplied):
        wallet.post("acc_1", 500, LedgerKind.TOP_UP, "pi_dup")
    # Then the money was counted once
    assert Account.get("acc_1").balance_cents == 500
    assert _ledger_sum("acc_1") == 500


def test_post__debit_over_balance_is_refused_and_writes_nothing(moto_tables):
    # Given 100 cents
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    # When 101 are debited
    with pytest.raises(InsufficientBalance):
        wallet.post("acc_1", -101, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then nothing changed
    assert Account.get("acc_1").balance_cents == 100
    assert len(wallet.entries("acc_1")) == 1


def test_post__held_money_cannot_be_spent(moto_tables):
    # Given 1000 cents of which 800 are held for a refund request
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    wallet.change_hold("acc_1", 800)
    # When 300 are debited
    with pytest.raises(InsufficientBalance):
        wallet.post("acc_1", -300, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then 200 can still be spent
    wallet.post("acc_1", -200, LedgerKind.ACTIVATION_CHARGE, "act_2")
    assert wallet.entries("acc_1")[0].balance_after_cents == 800


def test_post__dispute_may_go_negative_when_allowed(moto_tables):
    # Given 100 cents
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    # When a dispute takes back 500
    wallet.post("acc_1", -500, LedgerKind.DISPUTE, "dp_1", allow_negative=True)
    # Then the balance is negative and still equals the ledger
    assert wallet.entries("acc_1")[0].balance_after_cents == -400
    assert _ledger_sum("acc_1") == -400


def test_post__require_active_refuses_a_blocked_account(moto_tables):
    # Given a blocked account with money
    _account(status=AccountStatus.BLOCKED)
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 100, LedgerKind.ADJUSTMENT, "adm_1")
    # When an order debits it
    with pytest.raises(Forbidden):
        wallet.post("acc_1", -10, LedgerKind.ACTIVATION_CHARGE, "act_1", require_active=True)
    # Then nothing was taken
    assert Account.get("acc_1").balance_cents == 100


def test_post__unknown_account_is_not_found(moto_tables):
    with pytest.raises(NotFound):
        Wallet(SystemClock()).post("nobody", 1, LedgerKind.ADJUSTMENT, "x")


def test_post__float_amount_is_a_programming_error(moto_tables):
    _account()
    with pytest.raises(TypeError):
        Wallet(SystemClock()).post("acc_1", 1.5, LedgerKind.ADJUSTMENT, "x")  # type: ignore[arg-type]


_ops = st.lists(st.tuples(st.sampled_from(["credit", "debit", "repeat"]), st.integers(1, 5000)), max_size=25)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_post__random_sequences_keep_balance_equal_to_ledger_and_never_negative(moto_tables, ops):
    # Given a fresh account per example
    account_id = f"acc_{abs(hash(tuple(ops)))}"
    _account(account_id)
    wallet = Wallet(SystemClock())
    applied: list[str] = []
    # When random credits, debits and retries of earlier causes are posted
    for i, (op, amount) in enumerate(ops):
        kind, cause, signed = {
            "credit": (LedgerKind.TOP_UP, f"c{i}", amount),
            "debit": (LedgerKind.ACTIVATION_CHARGE, f"d{i}", -amount),
            "repeat": (LedgerKind.TOP_UP, applied[0] if applied else f"c{i}", amount),
        }[op]
        try:
            wallet.post(account_id, signed, kind, cause)
            if kind is LedgerKind.TOP_UP:
                applied.append(cause)
        except (InsufficientBalance, AlreadyApplied):
            pass
    # Then the balance is the ledger's sum, never negative, and each cause appears once
    balance = Account.get(account_id).balance_cents
    entries = wallet.entries(account_id, limit=1000)
    assert balance == sum(e.amount_cents for e in entries) >= 0
    causes = [(e.kind, e.cause_id) for e in entries]
    assert len(causes) == len(set(causes))


def test_post__debit_reads_nothing_and_its_balance_after_is_sealed_by_the_first_reader(moto_tables):
    # Given an account credited 1000 (its first posting, which sets it up for read-free postings)
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    # When it is debited 300 and 200
    first = wallet.post("acc_1", -300, LedgerKind.ACTIVATION_CHARGE, "act_1")
    second = wallet.post("acc_1", -200, LedgerKind.ACTIVATION_CHARGE, "act_2")
    # Then the entries exist at once, their balance after is not yet known...
    assert LedgerEntry.get("acc_1", first.seq).balance_after_cents is None
    # ...and the first reader writes it: the running sum in the order they committed
    assert [e.balance_after_cents for e in wallet.entries("acc_1")] == [500, 700, 1000]
    assert LedgerEntry.get("acc_1", second.seq).balance_after_cents == 500
    account = Account.get("acc_1")
    assert (account.sealed_count, account.sealed_balance_cents, account.spendable_cents) == (3, 500, 500)


def test_post__key_at_or_below_the_floor_draws_one_above_it(moto_tables):
    # Given an account whose ledger a reader sealed far ahead of this clock (another container's runs fast)
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    ahead = wallet.post("acc_1", 100, LedgerKind.ADJUSTMENT, "adm_1").seq + 10**9
    Account("acc_1").update(actions=[Account.ledger_floor.set(ahead)])
    # When a debit draws its key from this clock
    posting = wallet.post("acc_1", -250, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then it still commits, above the floor, once
    assert posting.seq > ahead
    assert Account.get("acc_1").balance_cents == 850 == _ledger_sum("acc_1")


def test_post__debit_never_sorts_before_a_credit_it_may_have_spent(moto_tables):
    # Given an account whose newest credit has a key ahead of this clock
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    ahead = new_numeric_id() + 10**9
    Account("acc_1").update(actions=[Account.credit_last.set(ahead)])
    # When a debit is posted
    posting = wallet.post("acc_1", -100, LedgerKind.ACTIVATION_CHARGE, "act_1")
    # Then its entry sorts after that credit: the running balance in the ledger's order never dips below zero
    assert posting.seq > ahead
    assert [e.amount_cents for e in LedgerEntry.query("acc_1")] == [100, -100]


def test_post__account_from_before_read_free_postings_keeps_its_ledger_and_continues_it(moto_tables):
    # Given an account written by the older scheme: entries 1 and 2, no spendable amount or newest key
    _account()
    for seq, amount, after in ((1, 1000, 1000), (2, -100, 900)):
        LedgerEntry("acc_1", seq, entry_id=f"le_{seq}", amount_cents=amount, balance_after_cents=after,
                    kind=LedgerKind.TOP_UP.value, cause_id=f"old_{seq}", created_at=0).save()
    Account("acc_1").update(actions=[Account.balance_cents.set(900), Account.ledger_seq.set(2)])
    wallet = Wallet(SystemClock())
    # When it is debited twice
    wallet.post("acc_1", -50, LedgerKind.ACTIVATION_CHARGE, "act_1")
    wallet.post("acc_1", -25, LedgerKind.ACTIVATION_CHARGE, "act_2")
    # Then the new entries follow the old ones with exact balances after, and the count goes on
    assert [(e.amount_cents, e.balance_after_cents) for e in wallet.entries("acc_1", newest_first=False)] == [
        (1000, 1000), (-100, 900), (-50, 850), (-25, 825)]
    assert (Account.get("acc_1").ledger_seq, Account.get("acc_1").spendable_cents) == (4, 825)


def _charges(*causes_and_amounts: tuple[str, int]) -> list[Charge]:
    return [Charge(amount, LedgerKind.ACTIVATION_CHARGE, cause) for cause, amount in causes_and_amounts]


def test_debit_together__each_charge_its_own_entry_in_one_balance_change(moto_tables):
    # Given 1000 cents
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    # When three activations are charged together
    postings = wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60), ("a3", 75)))
    # Then each has its entry at consecutive keys, in order, and the first reader seals exact balances after
    assert [p.seq - postings[0].seq for p in postings] == [0, 1, 2]
    assert [(e.cause_id, e.amount_cents, e.balance_after_cents) for e in wallet.entries("acc_1")] == [
        ("a3", -75, 805), ("a2", -60, 880), ("a1", -60, 940), ("pi_1", 1000, 1000)]
    assert Account.get("acc_1").balance_cents == 805 == _ledger_sum("acc_1")
    assert (Account.get("acc_1").ledger_seq, Account.get("acc_1").spendable_cents) == (4, 805)


def test_debit_together__an_account_from_before_read_free_postings_is_charged_with_exact_balances(moto_tables):
    # Given an account written by the older scheme: one entry, no spendable amount or newest key
    _account()
    LedgerEntry("acc_1", 1, entry_id="le_1", amount_cents=500, balance_after_cents=500,
                kind=LedgerKind.TOP_UP.value, cause_id="old_1", created_at=0).save()
    Account("acc_1").update(actions=[Account.balance_cents.set(500), Account.ledger_seq.set(1)])
    wallet = Wallet(SystemClock())
    # When two charges are debited together (the account as authentication read it)
    wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 40)), known=Account.get("acc_1"))
    # Then both follow the old entry with their balances after, and the account is ready for read-free postings
    assert [(e.amount_cents, e.balance_after_cents) for e in wallet.entries("acc_1", newest_first=False)] == [
        (500, 500), (-60, 440), (-40, 400)]
    account = Account.get("acc_1")
    assert (account.balance_cents, account.spendable_cents, account.ledger_seq) == (400, 400, 3)


def test_debit_together__short_of_the_sum_is_refused_and_writes_nothing(moto_tables):
    # Given 100 cents, enough for one of two 60-cent charges but not both
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 100, LedgerKind.TOP_UP, "pi_1")
    # When both are charged together
    with pytest.raises(InsufficientBalance):
        wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60)))
    # Then none was: all or nothing
    assert Account.get("acc_1").balance_cents == 100
    assert [e.cause_id for e in LedgerEntry.query("acc_1")] == ["pi_1"]


def test_debit_together__a_cause_charged_before_refuses_the_whole_batch(moto_tables):
    # Given an activation already charged
    _account()
    wallet = Wallet(SystemClock())
    wallet.post("acc_1", 1000, LedgerKind.TOP_UP, "pi_1")
    wallet.post("acc_1", -60, LedgerKind.ACTIVATION_CHARGE, "a2")
    # When a batch naming it again is charged
    with pytest.raises(AlreadyApplied):
        wallet.debit_together("acc_1", _charges(("a1", 60), ("a2", 60)))
    # Then nothing of the batch was written
    assert Account.get("acc_1").balance_cents == 940 == _ledger_sum("acc_1")


def test_debit_together__a_blocked_account_cannot_be_charged(moto_tables):
    _account(status=AccountStatus.BLOCKED)
    with pytest.raises(Forbidden):
        Wallet(SystemClock()).debit_together("acc_1", _charges(("a1", 1)))
