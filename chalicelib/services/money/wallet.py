"""The one way money moves: a balance change and its ledger entry in one DynamoDB transaction, exactly once per cause.
(Over 250 lines on purpose: every way a balance changes, and the sealing that completes an entry, audited in one place.)

A posting is one TransactWriteItems that needs no prior read:
  1. the account update, adding the amount to the balance (and to `spendable_cents`, balance - held), under a
     condition that decides it: `spendable_cents >= amount` for a debit, `status = active` for an order, the
     entry's key above the account's `ledger_floor`, and for a debit above its `credit_last`,
  2. the ledger entry at `seq`, a time-ordered number drawn without a round trip (domain.ids),
  3. a claim on `ledger#<kind>#<cause_id>` that must not exist (a retried cause fails here: exactly once),
  4. any items the caller adds (e.g. the activation an order creates),
  5. a balance.changed event for the account's webhook when it takes them (services/platform/webhook_outbox.py);
     whether it does is told by the caller or read from the account it already holds (an order's), else read
     (eventually consistent) apart from the transaction: it decides only whether the event is queued.
Nothing is read first and debits are not ordered among themselves, so many orders on one account do not queue
behind a compare-and-set: each commits unless the money is not there. A refusal is explained from the account as
the condition saw it (ReturnValuesOnConditionCheckFailure), never from an earlier read; a key refused for its
place draws one above the floor (or the newest credit) and tries again.

What such a transaction cannot know is the balance after its entry. The first reader of the ledger writes it
(`seal`): it raises `ledger_floor` to now, after which no entry at or below it can commit, then writes each
entry's balance_after as the running sum in key order. Entries commit in nearly but not exactly key order; the
running sum is still the balance at each point of the ledger's order, and it never goes below zero without a
dispute: debits commit in any order among themselves, but never below a credit already committed.

A posting on an account no posting touched since this scheme (no `ledger_floor`) takes the older path once: read
the account, commit under its `version` (compare-and-set) with balance_after known, and set what the read-free
path needs.
"""
from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.config import get_settings
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AlreadyApplied, Forbidden, InsufficientBalance, NotFound
from chalicelib.domain.ids import new_id, new_numeric_id
from chalicelib.domain.webhook_events import BALANCE_STREAM, EventType, WebhookEvent
from chalicelib.services.platform.webhook_outbox import queue_event, subscribes
from chalicelib.store.accounts import Account, reconcile_shard
from chalicelib.store.base import JoinedWrite, connection
from chalicelib.store.ledger import Claim, LedgerEntry, claimed

ExtraItems = JoinedWrite

_MAX_ATTEMPTS = 60
_FLOOR_ATTEMPTS = 5


@dataclass(frozen=True)
class Charge:
    """One debit of `debit_together`: its amount (positive cents), kind and cause."""

    amount_cents: int
    kind: LedgerKind
    cause_id: str
    memo: str | None = None


@dataclass(frozen=True)
class Posting:
    entry_id: str
    account_id: str
    seq: int
    amount_cents: int
    balance_after_cents: int | None  # None from a read-free posting: the entry is sealed by its first reader
    kind: LedgerKind
    cause_id: str
    created_at: float


def cause_key(kind: LedgerKind, cause_id: str) -> str:
    return f"ledger#{kind.value}#{cause_id}"


class Wallet:
    def __init__(self, clock: Clock, webhook_shards: int | None = None) -> None:
        self.clock = clock
        self.webhook_shards = webhook_shards

    def post(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, *,
             memo: str | None = None, allow_negative: bool = False, require_active: bool = False,
             extra: ExtraItems | None = None, known: Account | None = None,
             balance_hook: bool | None = None) -> Posting:
        """Apply a signed amount to the account with its ledger entry.

        A debit (negative amount) must leave `balance - held >= 0` unless allow_negative (disputes,
        forfeiture of a negative balance never happens). require_active refuses a debit on an
        account that is not active at commit time (orders). Raises InsufficientBalance,
        AlreadyApplied, NotFound. `known`: the account as the caller read it a moment ago (an order's
        authentication): only which path to take is read from it, never whether the money is there.
        """
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
            raise TypeError("amount_cents must be an int")
        told = balance_hook if balance_hook is not None else self._takes_balance_events(account_id, known)
        if known is not None and known.ledger_floor is None:
            return self._post_checked(account_id, amount_cents, kind, cause_id, memo, allow_negative,
                                      require_active, extra, told)
        above = _lowest_key_allowed(known) if known is not None else 0
        for attempt in range(_MAX_ATTEMPTS):
            posting = self._posting(account_id, amount_cents, max(new_numeric_id(), above), None, kind, cause_id)
            try:
                self._commit_read_free(posting, memo, allow_negative, require_active, extra, told)
                return posting
            except TransactWriteError as exc:
                if claimed(cause_key(kind, cause_id)):
                    raise AlreadyApplied(f"{kind.value} for {cause_id} was already applied.") from None
                if "TransactionConflict" in _codes(exc):
                    _backoff(attempt)
                    continue
                seen = _account_as_refused(exc) or self._explain_elsewhere(exc, posting, allow_negative,
                                                                           require_active)
                if seen.ledger_floor is None or seen.spendable_cents is None:
                    return self._post_checked(account_id, amount_cents, kind, cause_id, memo, allow_negative,
                                              require_active, extra, told)
                refused = _refusal(seen, amount_cents, allow_negative, require_active)
                if refused is not None:
                    raise refused from None
                above = _lowest_key_allowed(seen)  # its key was refused for its place
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover - 60 conflicts in a row

    def debit_together(self, account_id: str, charges: Sequence[Charge], *, extra: ExtraItems | None = None,
                       known: Account | None = None) -> list[Posting]:
        """Several charges of an active account in ONE transaction, each its own ledger entry and claim at
        consecutive keys (a multi-service number, a bulk order): all are written or none is. Read-free like `post`
        (the account's condition decides it: spendable >= the sum, active, keys in place); an account from before
        read-free postings takes the checked path once. Raises InsufficientBalance (for the sum), Forbidden,
        AlreadyApplied (when any cause was charged before)."""
        if not charges or any(isinstance(c.amount_cents, bool) or c.amount_cents <= 0 for c in charges):
            raise ValueError("charges must be positive amounts")
        total = sum(c.amount_cents for c in charges)
        told = self._takes_balance_events(account_id, known)
        if known is not None and known.ledger_floor is None:
            return self._debit_together_checked(account_id, charges, total, extra, told)
        above = _lowest_key_allowed(known) if known is not None else 0
        for attempt in range(_MAX_ATTEMPTS):
            postings = self._postings(account_id, charges, max(new_numeric_id(), above), None)
            first = postings[0][0].seq
            condition = ((Account.ledger_floor < first) & (Account.spendable_cents >= total)
                         & ((Account.credit_last < first) | Account.credit_last.does_not_exist())
                         & (Account.status == AccountStatus.ACTIVE.value))
            try:
                self._transact(Account(account_id), postings, condition, extra, [
                    Account.balance_cents.add(-total), Account.spendable_cents.add(-total),
                    Account.ledger_seq.add(len(charges)), Account.version.add(1)], told)
                return [p for p, _ in postings]
            except TransactWriteError as exc:
                if any(claimed(cause_key(c.kind, c.cause_id)) for c in charges):
                    raise AlreadyApplied("One of these charges was already applied.") from None
                if "TransactionConflict" in _codes(exc):
                    _backoff(attempt)
                    continue
                whole = replace(postings[0][0], amount_cents=-total)
                seen = _account_as_refused(exc) or self._explain_elsewhere(exc, whole, False, True)
                if seen.ledger_floor is None or seen.spendable_cents is None:
                    return self._debit_together_checked(account_id, charges, total, extra, told)
                refused = _refusal(seen, -total, False, True)
                if refused is not None:
                    raise refused from None
                above = _lowest_key_allowed(seen)  # its keys were refused for their place
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def _debit_together_checked(self, account_id: str, charges: Sequence[Charge], total: int,
                                extra: ExtraItems | None, told: bool) -> list[Posting]:
        """debit_together on an account from before read-free postings, as `_post_checked` does one posting."""
        for attempt in range(_MAX_ATTEMPTS):
            account = self.read(account_id)
            refused = _refusal(account, -total, False, True)
            if refused is not None:
                raise refused
            postings = self._postings(account_id, charges, max(new_numeric_id(), int(account.ledger_seq) + 1),
                                      int(account.balance_cents))
            last, balance = postings[-1][0].seq, int(account.balance_cents) - total
            count = int(account.ledger_seq) + len(charges)
            unchanged = (Account.version == account.version) & (Account.status == AccountStatus.ACTIVE.value)
            try:
                self._transact(account, postings, unchanged, extra,
                               [Account.balance_cents.set(balance), Account.ledger_seq.set(count),
                                Account.version.set(account.version + 1),
                                Account.spendable_cents.set(balance - int(account.held_cents)),
                                Account.ledger_floor.set(last), Account.credit_last.set(last),
                                Account.sealed_seq.set(last), Account.sealed_count.set(count),
                                Account.sealed_balance_cents.set(balance)], told)
                return [p for p, _ in postings]
            except TransactWriteError as exc:
                if any(claimed(cause_key(c.kind, c.cause_id)) for c in charges):
                    raise AlreadyApplied("One of these charges was already applied.") from None
                self._raise_unless_lost_race(exc, account, require_active=True)
                _backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def _postings(self, account_id: str, charges: Sequence[Charge], first: int, balance_before: int | None
                  ) -> list[tuple[Posting, str | None]]:
        """The debits of `charges` at consecutive keys from `first`, with their balances after when known."""
        postings: list[tuple[Posting, str | None]] = []
        balance = balance_before
        for offset, charge in enumerate(charges):
            balance = None if balance is None else balance - charge.amount_cents
            postings.append((self._posting(account_id, -charge.amount_cents, first + offset, balance, charge.kind,
                                           charge.cause_id), charge.memo))
        return postings

    def change_hold(self, account_id: str, delta_cents: int, *, extra: ExtraItems | None = None) -> int:
        """Move money between spendable and held (refund requests); no ledger entry, balance unchanged."""
        for attempt in range(_MAX_ATTEMPTS):
            account = self.read(account_id)
            new_held = int(account.held_cents) + delta_cents
            if new_held < 0 or new_held > max(account.balance_cents, 0):
                raise InsufficientBalance("Not enough available balance to hold.")
            try:
                with TransactWrite(connection=connection()) as tx:
                    tx.update(account, condition=Account.version == account.version,
                              actions=[Account.held_cents.set(new_held), Account.version.set(account.version + 1),
                                       Account.spendable_cents.set(int(account.balance_cents) - new_held)])
                    if extra:
                        extra(tx)
                return new_held
            except TransactWriteError as exc:
                self._raise_unless_lost_race(exc, account, require_active=False)
                _backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def entries(self, account_id: str, *, after_seq: int = 0, limit: int = 100, newest_first: bool = True
                ) -> list[LedgerEntry]:
        sealed = seal(account_id)
        cond = LedgerEntry.seq.between(after_seq + 1, sealed) if sealed else LedgerEntry.seq > after_seq
        return list(LedgerEntry.query(account_id, range_key_condition=cond, scan_index_forward=not newest_first,
                                      limit=limit))

    def sealed(self, posting: Posting) -> Posting:
        """The posting with its balance after (sealing the ledger up to it): for callers that show it at once."""
        if posting.balance_after_cents is not None:
            return posting
        seal(posting.account_id)
        entry = LedgerEntry.get(posting.account_id, posting.seq, consistent_read=True)
        return replace(posting, balance_after_cents=int(entry.balance_after_cents))

    def _takes_balance_events(self, account_id: str, known: Account | None) -> bool:
        if known is not None:
            return subscribes(known, EventType.BALANCE_CHANGED)
        try:
            return subscribes(Account.get(account_id), EventType.BALANCE_CHANGED)
        except Account.DoesNotExist:
            return False  # the posting itself says NotFound

    def _shards(self) -> int:
        return self.webhook_shards if self.webhook_shards is not None else get_settings().write_shards

    def read(self, account_id: str) -> Account:
        """The account, strongly consistent (what money decisions are made on); NotFound if there is none."""
        try:
            return Account.get(account_id, consistent_read=True)
        except Account.DoesNotExist:
            raise NotFound("Account not found.") from None

    def _posting(self, account_id: str, amount: int, seq: int, balance_after: int | None, kind: LedgerKind,
                 cause_id: str) -> Posting:
        return Posting(entry_id=new_id("le"), account_id=account_id, seq=seq, amount_cents=amount,
                       balance_after_cents=balance_after, kind=kind, cause_id=cause_id, created_at=self.clock.now())

    def _commit_read_free(self, p: Posting, memo: str | None, allow_negative: bool, require_active: bool,
                          extra: ExtraItems | None, told: bool) -> None:
        condition: Condition = ((Account.ledger_floor < p.seq) & Account.spendable_cents.exists()
                                & ((Account.credit_last < p.seq) | Account.credit_last.does_not_exist()))
        actions: list[Action] = [Account.balance_cents.add(p.amount_cents),
                                 Account.spendable_cents.add(p.amount_cents), Account.ledger_seq.add(1),
                                 Account.version.add(1)]
        if p.amount_cents < 0 and not allow_negative:
            condition &= Account.spendable_cents >= -p.amount_cents
        if p.amount_cents > 0:
            actions.append(Account.credit_last.set(p.seq))
        if require_active:
            condition &= Account.status == AccountStatus.ACTIVE.value
        self._transact(Account(p.account_id), [(p, memo)], condition, extra, actions, told)

    def _post_checked(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, memo: str | None,
                      allow_negative: bool, require_active: bool, extra: ExtraItems | None, told: bool) -> Posting:
        """The path of an account from before read-free postings: read, decide, commit under its version, and
        leave behind what the read-free path needs (spendable_cents, the floor, the sealed position)."""
        for attempt in range(_MAX_ATTEMPTS):
            account = self.read(account_id)
            refused = _refusal(account, amount_cents, allow_negative, require_active)
            if refused is not None:
                raise refused
            new_balance = int(account.balance_cents) + amount_cents
            seq = max(new_numeric_id(), int(account.ledger_seq) + 1)
            posting = self._posting(account_id, amount_cents, seq, new_balance, kind, cause_id)
            condition: Condition = Account.version == account.version
            if require_active:
                condition &= Account.status == AccountStatus.ACTIVE.value
            count = int(account.ledger_seq) + 1
            actions: list[Action] = [
                Account.balance_cents.set(new_balance), Account.ledger_seq.set(count),
                Account.version.set(account.version + 1),
                Account.spendable_cents.set(new_balance - int(account.held_cents)), Account.ledger_floor.set(seq),
                Account.credit_last.set(seq), Account.sealed_seq.set(seq), Account.sealed_count.set(count),
                Account.sealed_balance_cents.set(new_balance)]
            try:
                self._transact(account, [(posting, memo)], condition, extra, actions, told)
                return posting
            except TransactWriteError as exc:
                if claimed(cause_key(kind, cause_id)):
                    raise AlreadyApplied(f"{kind.value} for {cause_id} was already applied.") from None
                self._raise_unless_lost_race(exc, account, require_active)
                _backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover - 60 lost races in a row

    def _transact(self, account: Account, postings: Sequence[tuple[Posting, str | None]], condition: Condition,
                  extra: ExtraItems | None, actions: list[Action], told: bool) -> None:
        """One transaction: the account update, then each posting's entry, claim and event, then the caller's items."""
        with TransactWrite(connection=connection()) as tx:
            tx.update(account, actions=[*actions, *_due_for_reconcile(postings[0][0])], condition=condition,
                      return_values=ALL_OLD)
            for p, memo in postings:
                entry = LedgerEntry(p.account_id, p.seq, entry_id=p.entry_id, amount_cents=p.amount_cents,
                                    balance_after_cents=p.balance_after_cents, kind=p.kind.value,
                                    cause_id=p.cause_id, memo=memo, created_at=p.created_at)
                claim = Claim(cause_key(p.kind, p.cause_id), value=f"{p.account_id}:{p.seq}",
                              created_at=p.created_at)
                tx.save(entry, condition=LedgerEntry.seq.does_not_exist())
                tx.save(claim, condition=Claim.key.does_not_exist())
                if told:
                    queue_event(tx, p.account_id, _balance_event(p, memo), shards=self._shards())
            if extra:
                extra(tx)

    def _explain_elsewhere(self, exc: TransactWriteError, p: Posting, allow_negative: bool,
                           require_active: bool) -> Account:
        """The account, read now, when the reply did not carry it (its condition held, or a backend does not
        return it): what the account explains is handled as above; a refusal of the caller's own items is theirs
        to handle; a missing account is NotFound."""
        account = self.read(p.account_id)
        if (account.ledger_floor is None or account.spendable_cents is None
                or _lowest_key_allowed(account) > p.seq
                or _refusal(account, p.amount_cents, allow_negative, require_active) is not None):
            return account
        raise exc

    def _raise_unless_lost_race(self, exc: TransactWriteError, read: Account, require_active: bool) -> None:
        """Retry only when the account moved under us; a refusal of the caller's own items is theirs to handle.

        Which item DynamoDB blames is not used: PynamoDB reorders a transaction's items (checks, deletes,
        puts, updates) and moto reports differently, so the account itself is asked whether it changed.
        """
        if "TransactionConflict" in _codes(exc):
            return
        now = self.read(read.account_id)
        if now.version != read.version:
            return
        if require_active and now.status != AccountStatus.ACTIVE.value:
            return  # the next attempt refuses it with a clear error
        raise exc


def _balance_event(p: Posting, memo: str | None) -> WebhookEvent:
    """balance.changed, its sequence the entry's key (rising per account); the balance after, when this posting
    knows it, else written in by the delivery once a reader sealed the entry (services/platform/user_webhooks.py)."""
    data: dict[str, object] = {"amount_cents": p.amount_cents, "kind": p.kind.value, "cause_id": p.cause_id,
                               "memo": memo}
    if p.balance_after_cents is not None:
        data["balance_cents"] = p.balance_after_cents
    return WebhookEvent(EventType.BALANCE_CHANGED, BALANCE_STREAM, p.seq, p.created_at, data)


def seal(account_id: str) -> int | None:
    """Write balance_after on the entries read-free postings left without it, and say up to which key the
    ledger is sealed: a reader that shows balance_after reads up to there (newer entries are not final yet).

    First the floor goes up to now, so no entry at or below it can commit any more; then each entry above the
    last sealed one gets the running sum in key order. Any reader may run it, at the same time as others (each
    write is conditional, and all compute the same sums). None: every entry carries its balance_after as
    written (an account no read-free posting touched), or there is no account.
    """
    try:
        account = Account.get(account_id, consistent_read=True)
    except Account.DoesNotExist:
        return None
    if account.ledger_floor is None:
        return None
    sealed = int(account.sealed_seq or 0)
    if int(account.sealed_count or 0) == int(account.ledger_seq):
        return sealed  # nothing committed since the last seal
    frontier = max(new_numeric_id(), int(account.ledger_floor))
    if not _raise_floor(account_id, frontier):
        return sealed
    running, count = int(account.sealed_balance_cents or 0), int(account.sealed_count or 0)
    for entry in LedgerEntry.query(account_id, LedgerEntry.seq.between(sealed + 1, frontier), consistent_read=True):
        running, count = running + int(entry.amount_cents), count + 1
        if entry.balance_after_cents is None:
            _unless_refused(entry, [LedgerEntry.balance_after_cents.set(running)],
                            LedgerEntry.balance_after_cents.does_not_exist())
    _unless_refused(Account(account_id), [Account.sealed_seq.set(frontier), Account.sealed_count.set(count),
                                          Account.sealed_balance_cents.set(running)],
                    (Account.sealed_seq < frontier) | Account.sealed_seq.does_not_exist())
    return frontier


def _raise_floor(account_id: str, frontier: int) -> bool:
    """Refuse every posting keyed at or below `frontier` from now on; False if the account kept being written."""
    for attempt in range(_FLOOR_ATTEMPTS):
        try:
            Account(account_id).update(actions=[Account.ledger_floor.set(frontier)],
                                       condition=Account.ledger_floor < frontier)
            return True
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return True  # another reader raised it higher: what is below is final all the same
            if exc.cause_response_code != "TransactionConflictException":
                raise
            _backoff(attempt)
    return False


def _lowest_key_allowed(account: Account) -> int:
    """The lowest key a posting may take on this account: above the floor and the newest credit."""
    return max(int(account.ledger_floor or 0), int(account.credit_last or 0)) + 1


def _codes(exc: TransactWriteError) -> set[str]:
    return {r.code for r in (exc.cancellation_reasons or []) if r}


def _account_as_refused(exc: TransactWriteError) -> Account | None:
    """The account as the transaction's condition saw it when that condition failed (ALL_OLD); None otherwise."""
    for reason in exc.cancellation_reasons or []:
        if reason and reason.code == "ConditionalCheckFailed" and reason.raw_item and "email" in reason.raw_item:
            return Account.from_raw_data(reason.raw_item)
    return None


def _unless_refused(item: LedgerEntry | Account, actions: list[Action], condition: Condition) -> None:
    """A seal's write, left to whoever got there first (its condition) or to the next reader (a conflict)."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code not in ("ConditionalCheckFailedException", "TransactionConflictException"):
            raise


def _due_for_reconcile(p: Posting) -> list[Action]:
    """Put the account on reconciliation's list (kept as it is when already there: its first unchecked change)."""
    return [Account.reconcile_due_at.set(Account.reconcile_due_at | p.created_at),
            Account.reconcile_shard.set(Account.reconcile_shard | reconcile_shard(p.account_id))]


def _refusal(account: Account, amount_cents: int, allow_negative: bool, require_active: bool
             ) -> Forbidden | InsufficientBalance | None:
    """Why this account may not take `amount_cents` now; None when it may."""
    if require_active and account.status != AccountStatus.ACTIVE.value:
        return Forbidden("This account cannot spend money now.", code="ACCOUNT_NOT_ACTIVE")
    available = (int(account.spendable_cents) if account.spendable_cents is not None
                 else int(account.balance_cents) - int(account.held_cents))
    if amount_cents < 0 and not allow_negative and available + amount_cents < 0:
        return InsufficientBalance("Your balance is too low for this.",
                                   details={"balance_cents": available, "needed_cents": -amount_cents})
    return None


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.2, 0.005 * (2 ** min(attempt, 6)))))
