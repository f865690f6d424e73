"""The one way money moves: a balance change and its ledger entry in one transaction, exactly once per cause.
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

This module decides, draws keys and retries; it reads and commits only through its `MoneyStore`
(chalicelib/store/money.py, where the DynamoDB work is), and no other service opens a money transaction.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from chalicelib.config import get_settings
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AlreadyApplied, Forbidden, InsufficientBalance, NotFound
from chalicelib.domain.ids import new_id, new_numeric_id, new_numeric_ids
from chalicelib.domain.webhook_events import BALANCE_STREAM, EventType, WebhookEvent
from chalicelib.store.base import JoinedWrite
from chalicelib.store.money import CommitRefused, Entry, Funds, MoneyStore, backoff

ExtraItems = JoinedWrite

_MAX_ATTEMPTS = 60


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
    def __init__(self, clock: Clock, store: MoneyStore, webhook_shards: int | None = None) -> None:
        self.clock = clock
        self.store = store
        self.webhook_shards = webhook_shards

    def post(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, *,
             memo: str | None = None, allow_negative: bool = False, require_active: bool = False,
             extra: ExtraItems | None = None, known: Funds | None = None,
             balance_hook: bool | None = None) -> Posting:
        """Apply a signed amount to the account with its ledger entry.

        A debit (negative amount) must leave `balance - held >= 0` unless allow_negative (disputes,
        forfeiture of a negative balance never happens). require_active refuses a debit on an
        account that is not active at commit time (orders). Raises InsufficientBalance,
        AlreadyApplied, NotFound, or CommitRefused when an item of `extra` was refused. `known`: the account's
        money as the caller read it a moment ago (an order's authentication): only which path to take is read
        from it, never whether the money is there.
        """
        if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
            raise TypeError("amount_cents must be an int")
        told = balance_hook if balance_hook is not None else self._takes_balance_events(account_id, known)
        if known is not None and known.ledger_floor is None:
            return self._post_checked(account_id, amount_cents, kind, cause_id, memo, allow_negative,
                                      require_active, extra, told)
        above = known.lowest_key_allowed if known is not None else 0
        spend = -amount_cents if amount_cents < 0 and not allow_negative else None
        for attempt in range(_MAX_ATTEMPTS):
            posting = self._posting(account_id, amount_cents, max(new_numeric_id(), above), None, kind, cause_id)
            try:
                self.store.commit_unread(account_id, [(_entry(posting, memo), cause_key(kind, cause_id))],
                                         spend=spend, require_active=require_active,
                                         joined=self._joined([(posting, memo)], extra, told))
                return posting
            except CommitRefused as refused:
                if self.store.claimed(cause_key(kind, cause_id)):
                    raise AlreadyApplied(f"{kind.value} for {cause_id} was already applied.") from None
                if refused.conflict:
                    backoff(attempt)
                    continue
                seen = refused.seen or self._explain_elsewhere(refused, posting, allow_negative, require_active)
                if not seen.read_free:
                    return self._post_checked(account_id, amount_cents, kind, cause_id, memo, allow_negative,
                                              require_active, extra, told)
                refusal = _refusal(seen, amount_cents, allow_negative, require_active)
                if refusal is not None:
                    raise refusal from None
                above = max(seen.lowest_key_allowed, posting.seq + 1)  # its key was refused for its place, or taken
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover - 60 conflicts in a row

    def debit_together(self, account_id: str, charges: Sequence[Charge], *, extra: ExtraItems | None = None,
                       known: Funds | None = None) -> list[Posting]:
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
        above = known.lowest_key_allowed if known is not None else 0
        for attempt in range(_MAX_ATTEMPTS):
            postings = self._postings(account_id, charges, _keys(len(charges), above), None)
            try:
                self.store.commit_unread(account_id, _entries(postings), spend=total, require_active=True,
                                         joined=self._joined(postings, extra, told))
                return [p for p, _ in postings]
            except CommitRefused as refused:
                if any(self.store.claimed(cause_key(c.kind, c.cause_id)) for c in charges):
                    raise AlreadyApplied("One of these charges was already applied.") from None
                if refused.conflict:
                    backoff(attempt)
                    continue
                whole = replace(postings[0][0], amount_cents=-total)
                seen = refused.seen or self._explain_elsewhere(refused, whole, False, True,
                                                               [p.seq for p, _ in postings])
                if not seen.read_free:
                    return self._debit_together_checked(account_id, charges, total, extra, told)
                refusal = _refusal(seen, -total, False, True)
                if refusal is not None:
                    raise refusal from None
                above = max(seen.lowest_key_allowed, postings[-1][0].seq + 1)  # refused for their place, or taken
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def _debit_together_checked(self, account_id: str, charges: Sequence[Charge], total: int,
                                extra: ExtraItems | None, told: bool) -> list[Posting]:
        """debit_together on an account from before read-free postings, as `_post_checked` does one posting."""
        for attempt in range(_MAX_ATTEMPTS):
            funds = self.read(account_id)
            refusal = _refusal(funds, -total, False, True)
            if refusal is not None:
                raise refusal
            postings = self._postings(account_id, charges, _keys(len(charges), funds.ledger_seq + 1),
                                      funds.balance_cents)
            try:
                self.store.commit_checked(funds, _entries(postings), require_active=True,
                                          joined=self._joined(postings, extra, told))
                return [p for p, _ in postings]
            except CommitRefused as refused:
                if any(self.store.claimed(cause_key(c.kind, c.cause_id)) for c in charges):
                    raise AlreadyApplied("One of these charges was already applied.") from None
                self._raise_unless_lost_race(refused, funds, require_active=True)
                backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def _postings(self, account_id: str, charges: Sequence[Charge], keys: Sequence[int], balance_before: int | None
                  ) -> list[tuple[Posting, str | None]]:
        """The debits of `charges` at their ascending `keys`, with their balances after when known."""
        postings: list[tuple[Posting, str | None]] = []
        balance = balance_before
        for key, charge in zip(keys, charges, strict=True):
            balance = None if balance is None else balance - charge.amount_cents
            postings.append((self._posting(account_id, -charge.amount_cents, key, balance, charge.kind,
                                           charge.cause_id), charge.memo))
        return postings

    def change_hold(self, account_id: str, delta_cents: int, *, extra: ExtraItems | None = None) -> int:
        """Move money between spendable and held (refund requests); no ledger entry, balance unchanged."""
        for attempt in range(_MAX_ATTEMPTS):
            funds = self.read(account_id)
            new_held = funds.held_cents + delta_cents
            if new_held < 0 or new_held > max(funds.balance_cents, 0):
                raise InsufficientBalance("Not enough available balance to hold.")
            try:
                self.store.commit_hold(funds, new_held, [extra] if extra else [])
                return new_held
            except CommitRefused as refused:
                self._raise_unless_lost_race(refused, funds, require_active=False)
                backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover

    def entries(self, account_id: str, *, after_seq: int = 0, limit: int = 100, newest_first: bool = True
                ) -> list[Entry]:
        """The account's ledger, up to what this read sealed (every entry shown has its balance after)."""
        return self.store.entries(account_id, after_seq=after_seq, up_to=self.store.seal(account_id), limit=limit,
                                  newest_first=newest_first)

    def sealed(self, posting: Posting) -> Posting:
        """The posting with its balance after (sealing the ledger up to it): for callers that show it at once."""
        if posting.balance_after_cents is not None:
            return posting
        self.store.seal(posting.account_id)
        entry = self.store.entry(posting.account_id, posting.seq)
        if entry is None or entry.balance_after_cents is None:  # pragma: no cover - the seal wrote it
            raise RuntimeError("a committed entry was not sealed")
        return replace(posting, balance_after_cents=entry.balance_after_cents)

    def _takes_balance_events(self, account_id: str, known: Funds | None) -> bool:
        """Whether to queue balance.changed: from the account the caller holds, else read (eventually consistent)
        apart from the transaction; a missing account says no (the posting itself says NotFound)."""
        funds = known if known is not None else self.store.funds(account_id, consistent=False)
        return funds is not None and funds.balance_events

    def _shards(self) -> int:
        return self.webhook_shards if self.webhook_shards is not None else get_settings().write_shards

    def read(self, account_id: str) -> Funds:
        """The account's money, strongly consistent (what money decisions are made on); NotFound if there is none."""
        funds = self.store.funds(account_id)
        if funds is None:
            raise NotFound("Account not found.")
        return funds

    def _posting(self, account_id: str, amount: int, seq: int, balance_after: int | None, kind: LedgerKind,
                 cause_id: str) -> Posting:
        return Posting(entry_id=new_id("le"), account_id=account_id, seq=seq, amount_cents=amount,
                       balance_after_cents=balance_after, kind=kind, cause_id=cause_id, created_at=self.clock.now())

    def _joined(self, postings: Sequence[tuple[Posting, str | None]], extra: ExtraItems | None, told: bool
                ) -> list[JoinedWrite]:
        """What joins the money's transaction: each posting's balance.changed when told, then the caller's items."""
        joined = [self._queuing(p, memo) for p, memo in postings] if told else []
        return [*joined, extra] if extra else joined

    def _queuing(self, p: Posting, memo: str | None) -> JoinedWrite:
        from chalicelib.services.platform.webhook_outbox import queuing  # loaded only once some account is told

        return queuing(p.account_id, _balance_event(p, memo), shards=self._shards())

    def _post_checked(self, account_id: str, amount_cents: int, kind: LedgerKind, cause_id: str, memo: str | None,
                      allow_negative: bool, require_active: bool, extra: ExtraItems | None, told: bool) -> Posting:
        """The path of an account from before read-free postings: read, decide, commit under its version, and
        leave behind what the read-free path needs (spendable_cents, the floor, the sealed position)."""
        for attempt in range(_MAX_ATTEMPTS):
            funds = self.read(account_id)
            refusal = _refusal(funds, amount_cents, allow_negative, require_active)
            if refusal is not None:
                raise refusal
            seq = max(new_numeric_id(), funds.ledger_seq + 1)
            posting = self._posting(account_id, amount_cents, seq, funds.balance_cents + amount_cents, kind,
                                    cause_id)
            try:
                self.store.commit_checked(funds, [(_entry(posting, memo), cause_key(kind, cause_id))],
                                          require_active=require_active,
                                          joined=self._joined([(posting, memo)], extra, told))
                return posting
            except CommitRefused as refused:
                if self.store.claimed(cause_key(kind, cause_id)):
                    raise AlreadyApplied(f"{kind.value} for {cause_id} was already applied.") from None
                self._raise_unless_lost_race(refused, funds, require_active)
                backoff(attempt)
        raise RuntimeError("ledger contention did not settle")  # pragma: no cover - 60 lost races in a row

    def _explain_elsewhere(self, refused: CommitRefused, p: Posting, allow_negative: bool,
                           require_active: bool, keys: Sequence[int] = ()) -> Funds:
        """The account, read now, when the refusal did not carry it (its condition held, or a backend does not
        return it): what the account explains is handled as above, and so is a ledger key another posting took
        first (the retry draws above it); a refusal of the caller's own items is theirs to handle; a missing
        account is NotFound."""
        funds = self.read(p.account_id)
        if (not funds.read_free or funds.lowest_key_allowed > p.seq
                or _refusal(funds, p.amount_cents, allow_negative, require_active) is not None
                or any(self.store.entry(p.account_id, key) is not None for key in (keys or (p.seq,)))):
            return funds
        raise refused

    def _raise_unless_lost_race(self, refused: CommitRefused, read: Funds, require_active: bool) -> None:
        """Retry only when the account moved under us; a refusal of the caller's own items is theirs to handle.

        Which item the backend blames is not used (DynamoDB reorders a transaction's items and moto reports
        differently), so the account itself is asked whether it changed.
        """
        if refused.conflict:
            return
        now = self.read(read.account_id)
        if now.version != read.version:
            return
        if require_active and now.status is not AccountStatus.ACTIVE:
            return  # the next attempt refuses it with a clear error
        raise refused


def _entry(p: Posting, memo: str | None) -> Entry:
    return Entry(account_id=p.account_id, seq=p.seq, entry_id=p.entry_id, amount_cents=p.amount_cents,
                 balance_after_cents=p.balance_after_cents, kind=p.kind, cause_id=p.cause_id,
                 created_at=p.created_at, memo=memo)


def _entries(postings: Sequence[tuple[Posting, str | None]]) -> list[tuple[Entry, str]]:
    return [(_entry(p, memo), cause_key(p.kind, p.cause_id)) for p, memo in postings]


def _keys(count: int, above: int) -> list[int]:
    """Ascending ledger keys for a batch of entries, none at or below `above`: drawn together, so no later posting
    of this process draws one of them (consecutive numbers after one draw would be the next caller's keys)."""
    keys = new_numeric_ids(count)
    return keys if keys[0] >= above else [above + offset for offset in range(count)]


def _balance_event(p: Posting, memo: str | None) -> WebhookEvent:
    """balance.changed, its sequence the entry's key (rising per account); the balance after, when this posting
    knows it, else written in by the delivery once a reader sealed the entry (services/platform/user_webhooks.py)."""
    data: dict[str, object] = {"amount_cents": p.amount_cents, "kind": p.kind.value, "cause_id": p.cause_id,
                               "memo": memo}
    if p.balance_after_cents is not None:
        data["balance_cents"] = p.balance_after_cents
    return WebhookEvent(EventType.BALANCE_CHANGED, BALANCE_STREAM, p.seq, p.created_at, data)


def _refusal(funds: Funds, amount_cents: int, allow_negative: bool, require_active: bool
             ) -> Forbidden | InsufficientBalance | None:
    """Why this account may not take `amount_cents` now; None when it may."""
    if require_active and funds.status is not AccountStatus.ACTIVE:
        return Forbidden("This account cannot spend money now.", code="ACCOUNT_NOT_ACTIVE")
    available = funds.available_cents
    if amount_cents < 0 and not allow_negative and available + amount_cents < 0:
        return InsufficientBalance("Your balance is too low for this.",
                                   details={"balance_cents": available, "needed_cents": -amount_cents})
    return None
