"""Reconciliation: do the books balance? Every check reads, none writes; the operator fixes what it finds.

1. Ledger: for every account, ledger_seq entries (numbered 1..ledger_seq on accounts from before read-free
   postings, then in increasing keys up to ledger_last), each balance_after written so far is the running sum,
   and the balance equals the sum of the entries.
2. Top-ups: every top_up entry is one credited TopUp of the same account and amount, credited once;
   every TopUp marked credited has its entry; every PaymentIntent Stripe says succeeded for one of
   our top-ups is credited (after a grace period for webhooks in flight).
3. Activation charges: every charge is matched by a refund of the same amount or by a number a
   partner issued (what we pay the partner for); every refund has its charge.
"""
from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pynamodb.models import Model

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import Clock, SystemClock
from chalicelib.observability import logger
from chalicelib.services.money.top_ups import TopUpStatus
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.payments import TopUp

DEFAULT_GRACE_SECONDS = 600  # a webhook or a pending order younger than this may still be in flight
SCAN_SEGMENTS = 4
READ_THREADS = 8
K = TypeVar("K")
M = TypeVar("M", bound=Model)
_SNAPSHOT_ATTEMPTS = 5


@dataclass(frozen=True)
class Discrepancy:
    check: str
    account_id: str | None
    ref: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "account_id": self.account_id, "ref": self.ref, "detail": self.detail}


@dataclass
class ReconcileReport:
    checked: dict[str, int] = field(default_factory=dict)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    mode: str = "full"  # full | accounts | incremental
    complete: bool = True  # False: an incremental run stopped at its deadline, the next one goes on
    backlog: int = 0  # accounts an incremental run left for the next one

    @property
    def clean(self) -> bool:
        return not self.discrepancies

    def add(self, other: ReconcileReport) -> None:
        """Fold another part of the same run in: counts add up, a discrepancy seen twice is reported once."""
        for name, count in other.checked.items():
            self.checked[name] = self.checked.get(name, 0) + max(count, 0)
        self.discrepancies += [d for d in other.discrepancies if d not in self.discrepancies]

    def to_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "mode": self.mode, "complete": self.complete, "backlog": self.backlog,
                "checked": self.checked, "discrepancy_count": len(self.discrepancies),
                "discrepancies": [d.to_json() for d in self.discrepancies]}


@dataclass(frozen=True)
class IntentSummary:
    """What reconciliation needs of a Stripe PaymentIntent."""

    id: str
    status: str
    amount_cents: int
    account_id: str | None
    topup_id: str | None
    created: float


class PaymentIntentSource(Protocol):
    def payment_intents(self) -> Iterable[IntentSummary]:
        """Every PaymentIntent the card processor knows of (or of a recent period)."""


# Reads the PaymentIntents to compare once the ledger was read (it is given the ledgers it may ask about).
IntentsAfterLedger = Callable[[dict[str, list[LedgerEntry]]], list[IntentSummary]]


@dataclass
class Books:
    """One consistent read of what the checks compare; `scope` None means every account."""

    accounts: dict[str, Account]
    ledgers: dict[str, list[LedgerEntry]]
    top_ups: list[TopUp]
    activations: dict[int, Activation]
    intents: list[IntentSummary] | None


class Reconciler:
    def __init__(self, intents: PaymentIntentSource | None, clock: Clock | None = None,
                 grace_seconds: int = DEFAULT_GRACE_SECONDS) -> None:
        self.intents = intents
        self.clock = clock or SystemClock()
        self.grace_seconds = grace_seconds

    def run(self, account_ids: Sequence[str] | None = None) -> ReconcileReport:
        """Check every account, or only `account_ids` (and the payments and activations of those)."""
        scope = set(account_ids) if account_ids else None
        source = self.intents
        listed: IntentsAfterLedger | None = None
        if source is not None:
            def listed(_: dict[str, list[LedgerEntry]]) -> list[IntentSummary]:
                return [i for i in source.payment_intents() if scope is None or i.account_id in scope]
        report = self.check(self.read(scope, listed))
        report.mode = "full" if scope is None else "accounts"
        return report

    def settled_before(self) -> float:
        """What happened before this is settled: webhooks and refunds in flight have landed."""
        return self.clock.now() - self.grace_seconds

    def check(self, books: Books) -> ReconcileReport:
        """Every check on what was read; a ledger suspect is confirmed on a consistent snapshot first."""
        settled_before = self.settled_before()
        report = ReconcileReport(checked={
            "accounts": len(books.accounts), "ledger_entries": sum(len(v) for v in books.ledgers.values()),
            "top_ups": len(books.top_ups), "activations": len(books.activations),
            "payment_intents": len(books.intents) if books.intents is not None else -1,
        })
        report.discrepancies += self._confirmed(check_ledgers(books.accounts, books.ledgers))
        report.discrepancies += check_top_ups(books.ledgers, books.top_ups, books.intents, settled_before)
        report.discrepancies += check_activation_charges(books.ledgers, books.activations, settled_before)
        return report

    def read(self, scope: set[str] | None, intents: IntentsAfterLedger | None) -> Books:
        """The ledger first: whatever is read after it (top-ups, activations, payments) is at least as new.

        Tables are scanned in parallel segments and accounts read in parallel: the calls wait on the network.
        """
        if scope is None:
            entries: list[LedgerEntry] = _scan(LedgerEntry)
            accounts = {a.account_id: a for a in _scan(Account)}
        else:
            ids = sorted(scope)
            entries = _each(ids, lambda a: LedgerEntry.query(a, consistent_read=True))
            accounts = {a.account_id: a for a in Account.batch_get(ids)}
        ledgers = _by_account(entries)
        if scope is None:
            top_ups = _scan(TopUp)
            activations = {int(a.activation_id): a for a in _scan(Activation)}
        else:
            top_ups = _each(ids, TopUp.by_account.query)
            activations = {int(a.activation_id): a for a in _each(ids, Activation.by_account.query)}
        return Books(accounts, ledgers, top_ups, activations, intents(ledgers) if intents is not None else None)

    def _confirmed(self, suspects: list[Discrepancy]) -> list[Discrepancy]:
        """Re-check each suspect account on a consistent snapshot: a scan can catch a posting half-read."""
        confirmed: list[Discrepancy] = []
        for account_id in sorted({d.account_id for d in suspects if d.account_id}):
            snapshot = _consistent_ledger(account_id)
            if snapshot is None:
                # Money kept moving on it: nothing is confirmed. Its postings keep it on the incremental run's
                # list (a take-off needs the version read), so a later run checks it once it is still.
                logger.warning("account kept moving while reconciled; not confirmed", extra={"account_id": account_id})
            elif snapshot[0] is None:
                confirmed += [d for d in suspects if d.account_id == account_id]
            else:
                confirmed += _check_one_ledger(snapshot[0], snapshot[1])
        return confirmed


def _consistent_ledger(account_id: str) -> tuple[Account | None, list[LedgerEntry]] | None:
    """The account and its entries with no posting in between (its version did not move while reading); the
    account is None when there is none; None when every attempt saw a posting commit.

    A still snapshot that does not add up is read again a few times before it is believed: a reader may see a
    transaction's items land one by one (DynamoDB Local does), a real discrepancy stays.
    """
    for attempt in range(_SNAPSHOT_ATTEMPTS):
        try:
            first = Account.get(account_id, consistent_read=True)
        except Account.DoesNotExist:
            return None, []
        entries = list(LedgerEntry.query(account_id, consistent_read=True))
        again = Account.get(account_id, consistent_read=True)
        still = int(again.version) == int(first.version)
        if still and (attempt == _SNAPSHOT_ATTEMPTS - 1 or not _check_one_ledger(again, entries)):
            return again, entries
        time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    return None


def _scan(model: type[M]) -> list[M]:
    """Every item of the table, read as SCAN_SEGMENTS parallel segments."""
    return _each(range(SCAN_SEGMENTS), lambda n: model.scan(segment=n, total_segments=SCAN_SEGMENTS))


def _each(keys: Iterable[K], read: Callable[[K], Iterable[M]]) -> list[M]:
    """What `read` gives for each key, read by a few threads at once, in the order of the keys."""
    keys = list(keys)
    if len(keys) <= 1:
        return [item for key in keys for item in read(key)]
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(keys))) as pool:
        return [item for items in pool.map(lambda key: list(read(key)), keys) for item in items]


def _by_account(entries: Iterable[LedgerEntry]) -> dict[str, list[LedgerEntry]]:
    ledgers: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        ledgers[entry.account_id].append(entry)
    for account_entries in ledgers.values():
        account_entries.sort(key=lambda e: int(e.seq))
    return dict(ledgers)


def check_ledgers(accounts: dict[str, Account], ledgers: dict[str, list[LedgerEntry]]) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for account_id in sorted(set(accounts) | set(ledgers)):
        account = accounts.get(account_id)
        entries = ledgers.get(account_id, [])
        if account is None:
            found.append(Discrepancy("ledger_without_account", account_id, account_id,
                                     f"{len(entries)} ledger entries belong to no account"))
            continue
        found += _check_one_ledger(account, entries)
    return found


def _check_one_ledger(account: Account, entries: list[LedgerEntry]) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    aid = account.account_id
    seqs = [int(e.seq) for e in entries]
    numbered = [seq for seq in seqs if seq <= int(account.ledger_seq)]  # the older scheme's 1, 2, 3…
    newest = int(account.ledger_last) if account.ledger_last is not None else None
    if (len(seqs) != int(account.ledger_seq) or numbered != list(range(1, len(numbered) + 1))
            or (newest is not None and seqs[-1:] != [newest]) or (newest is None and len(numbered) != len(seqs))):
        missing: list[int] = sorted(set(range(1, int(account.ledger_seq) + 1)) - set(seqs)) if newest is None else []
        found.append(Discrepancy("ledger_sequence", aid, f"{account.ledger_seq} entries up to {newest or 'its count'}",
                                 f"{len(seqs)} entries, the newest {seqs[-1:]}, missing seq {missing[:10]}"))
    running = 0
    for entry in entries:
        running += int(entry.amount_cents)
        if entry.balance_after_cents is not None and int(entry.balance_after_cents) != running:
            found.append(Discrepancy("ledger_running_balance", aid, f"seq {entry.seq}",
                                     f"balance_after {entry.balance_after_cents} but the entries sum to {running}"))
            break  # every later entry is off by the same amount; one report is enough
    if running != int(account.balance_cents):
        found.append(Discrepancy("balance_mismatch", aid, aid,
                                 f"balance {account.balance_cents} but the ledger sums to {running}"))
    return found


def check_top_ups(ledgers: dict[str, list[LedgerEntry]], top_ups: list[TopUp], intents: list[IntentSummary] | None,
                  settled_before: float) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    credits = _entries_by_cause(ledgers, LedgerKind.TOP_UP)
    by_intent = {t.payment_intent_id: t for t in top_ups if t.payment_intent_id}
    for intent_id, entries in sorted(credits.items()):
        found += _check_credit(intent_id, entries, by_intent.get(intent_id))
    for topup in top_ups:
        if topup.status == TopUpStatus.CREDITED.value and topup.payment_intent_id not in credits \
                and (topup.credited_at or 0) < settled_before:
            found.append(Discrepancy("top_up_not_in_ledger", topup.account_id, topup.topup_id,
                                     f"marked credited but no top_up entry for {topup.payment_intent_id}"))
    for intent in intents or []:
        if intent.status == "succeeded" and intent.topup_id and intent.id not in credits \
                and intent.created < settled_before:
            found.append(Discrepancy("payment_not_credited", intent.account_id, intent.id,
                                     f"Stripe says succeeded ({intent.amount_cents} cents, top-up {intent.topup_id}) "
                                     "but the ledger has no credit for it"))
    known = {i.id: i for i in intents or []}
    for intent_id, entries in sorted(credits.items()):
        if intent_id in known and known[intent_id].status != "succeeded":
            found.append(Discrepancy("credit_without_payment", entries[0].account_id, intent_id,
                                     f"the ledger credits a PaymentIntent Stripe shows as {known[intent_id].status}"))
    return found


def _check_credit(intent_id: str, entries: list[LedgerEntry], topup: TopUp | None) -> list[Discrepancy]:
    first = entries[0]
    if len(entries) > 1:
        return [Discrepancy("credited_twice", first.account_id, intent_id,
                            f"{len(entries)} top_up entries for one payment")]
    if topup is None:
        return [Discrepancy("credit_without_top_up", first.account_id, intent_id,
                            "a top_up entry names a PaymentIntent none of our top-ups has")]
    if topup.account_id != first.account_id or int(topup.amount_cents) != int(first.amount_cents):
        return [Discrepancy("credit_mismatch", first.account_id, intent_id,
                            f"credited {first.amount_cents} to {first.account_id}; top-up {topup.topup_id} is "
                            f"{topup.amount_cents} for {topup.account_id}")]
    return []


def check_activation_charges(ledgers: dict[str, list[LedgerEntry]], activations: dict[int, Activation],
                             settled_before: float) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    charges = _entries_by_cause(ledgers, LedgerKind.ACTIVATION_CHARGE)
    refunds = _entries_by_cause(ledgers, LedgerKind.ACTIVATION_REFUND)
    for cause, entries in sorted(charges.items()):
        found += _check_charge(cause, entries[0], refunds.get(cause), _activation(activations, cause),
                               settled_before)
    for cause, entries in sorted(refunds.items()):
        if cause not in charges:
            found.append(Discrepancy("refund_without_charge", entries[0].account_id, cause,
                                     f"refund of {entries[0].amount_cents} for an activation never charged"))
    return found


def _check_charge(cause: str, charge: LedgerEntry, refunds: list[LedgerEntry] | None, activation: Activation | None,
                  settled_before: float) -> list[Discrepancy]:
    aid = charge.account_id
    if activation is None:
        return [Discrepancy("charge_without_activation", aid, cause, f"charged {-charge.amount_cents} cents")]
    if int(activation.price_cents) != -int(charge.amount_cents):
        return [Discrepancy("charge_amount_mismatch", aid, cause,
                            f"charged {-charge.amount_cents} cents for a {activation.price_cents}-cent activation")]
    if refunds:
        refunded = sum(int(r.amount_cents) for r in refunds)
        if refunded != -int(charge.amount_cents):
            return [Discrepancy("refund_amount_mismatch", aid, cause,
                                f"charged {-charge.amount_cents} cents, refunded {refunded}")]
        return []
    if activation.partner_activation_id:
        return []  # a partner issued the number: the charge paid for it
    if activation.created_at >= settled_before:
        return []  # still acquiring a number, or its refund may have been posted after the ledger was read
    return [Discrepancy("charge_unmatched", aid, cause,
                        f"{activation.status} activation charged {-charge.amount_cents} cents with neither a "
                        "partner number nor a refund")]


def _entries_by_cause(ledgers: dict[str, list[LedgerEntry]], kind: LedgerKind) -> dict[str, list[LedgerEntry]]:
    found: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entries in ledgers.values():
        for entry in entries:
            if entry.kind == kind.value:
                found[entry.cause_id].append(entry)
    return dict(found)


def _activation(activations: dict[int, Activation], cause: str) -> Activation | None:
    return activations.get(int(cause)) if cause.isdigit() else None


class StripePaymentIntents:
    """PaymentIntents as Stripe (or localstripe) lists them, newest first, with our metadata.

    The StripeGateway has no listing call and reconciliation is its only reader, so this small
    read-only adapter lives here; `lookback_seconds` bounds the listing on real Stripe (localstripe
    refuses the `created` filter and holds little anyway). The incremental run reads what succeeded
    since its last run from Stripe's events, which both list by when they happened.
    """

    def __init__(self, secret_key: str, api_base: str | None, clock: Clock | None = None,
                 lookback_seconds: int = 90 * 24 * 3600) -> None:
        self._secret_key = secret_key
        self._api_base = api_base
        self._clock = clock or SystemClock()
        self._lookback_seconds = lookback_seconds

    def payment_intents(self) -> Iterable[IntentSummary]:
        params: dict[str, Any] = {"limit": 100}
        if self._api_base is None:
            params["created"] = {"gte": int(self._clock.now()) - self._lookback_seconds}
        for intent in self._client().v1.payment_intents.list(params=params).auto_paging_iter():  # type: ignore[arg-type]
            yield _summary(intent, float(intent.created))

    def succeeded_between(self, since: float, until: float) -> Iterable[IntentSummary]:
        params: dict[str, Any] = {"limit": 100, "type": "payment_intent.succeeded",
                                  "created": {"gte": int(since), "lt": math.ceil(until)}}
        for event in self._client().v1.events.list(params=params).auto_paging_iter():  # type: ignore[arg-type]
            yield _summary(event.data.object, float(event.created))

    def payment_intent(self, intent_id: str) -> IntentSummary | None:
        import stripe

        try:
            intent = self._client().v1.payment_intents.retrieve(intent_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise
        return _summary(intent, float(intent.created))

    def _client(self) -> Any:
        import stripe

        return stripe.StripeClient(self._secret_key,
                                   base_addresses={"api": self._api_base} if self._api_base else None)


def _summary(intent: Any, created: float) -> IntentSummary:
    metadata = intent.metadata.to_dict() if intent.metadata else {}
    return IntentSummary(id=intent.id, status=intent.status, amount_cents=int(intent.amount),
                         account_id=metadata.get("account_id"), topup_id=metadata.get("topup_id"), created=created)
