"""The accounts table as values: `Account` (domain/accounts.py) read, created and changed by attribute name.

The money's own writes (balance, ledger position, reconciliation marks) stay with the Wallet and store/accounts.py;
this module serves the accounts context (sign-up, sign-in, credentials cut-offs, settings, rights) and the admin
and support desks. A change names attributes as the model does; None removes one. `when` is the condition:
attribute → expected value, None (absent), PRESENT (exists) or a tuple (one of them).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.accounts import Account
from chalicelib.store import accounts as rows
from chalicelib.store import values
from chalicelib.store.base import JoinedWrite
from chalicelib.store.transaction import putting, refused_if_condition_failed
from chalicelib.store.values import row_of, stored, value_of


class _Present:
    def __repr__(self) -> str:
        return "PRESENT"


PRESENT: Final = _Present()  # `when={"account_id": PRESENT}`: the account exists
EXISTS: Final[Mapping[str, object]] = {"account_id": PRESENT}



def account_of(row: rows.Account) -> Account:
    """The value of a row as PynamoDB read it."""
    return value_of(Account, row)


def read(account_id: str, *, consistent: bool = True) -> Account | None:
    """The account, strongly consistent unless told otherwise (a money or security decision starts from it)."""
    return values.read(Account, rows.Account, account_id, consistent=consistent)


def change(account_id: str, values: Mapping[str, object] = {}, *, add: Mapping[str, int] = {},
           when: Mapping[str, object] | None = None) -> Account:
    """Set (None: remove) and add to attributes of the account, under `when`; the account as written. Raises
    store.transaction.Refused when the condition fails. Without `when` a missing account is created: say EXISTS."""
    row = rows.Account(account_id)
    try:
        row.update(actions=_actions(values, add), condition=_condition(when))
    except UpdateError as exc:
        raise refused_if_condition_failed(exc) from None
    return account_of(row)


def changing(account_id: str, values: Mapping[str, object] = {}, *, add: Mapping[str, int] = {},
             when: Mapping[str, object] | None = None) -> JoinedWrite:
    """`change` as a write of a transaction (store.transaction.commit, or the Wallet's `extra=`)."""
    actions, condition = _actions(values, add), _condition(when)

    def write(tx: TransactWrite) -> None:
        tx.update(rows.Account(account_id), actions=actions, condition=condition)

    return write


def creating(account: Account) -> JoinedWrite:
    """The new account's Put, refused when its id exists."""
    return putting(row_of(rows.Account, account), rows.Account.account_id.does_not_exist())


def _actions(values: Mapping[str, object], add: Mapping[str, int]) -> list[Action]:
    attrs = rows.Account.get_attributes()
    actions: list[Action] = [attrs[name].remove() if value is None else attrs[name].set(stored(attrs[name], value))
                             for name, value in values.items()]
    return actions + [attrs[name].add(amount) for name, amount in add.items()]


def _condition(when: Mapping[str, object] | None) -> Condition | None:
    if not when:
        return None
    attrs = rows.Account.get_attributes()
    parts: Iterator[Condition] = (_expect(attrs[name], expected) for name, expected in when.items())
    condition = next(parts)
    for part in parts:
        condition &= part
    return condition


def _expect(attr: Any, expected: object) -> Condition:
    if expected is None:
        return attr.does_not_exist()
    if expected is PRESENT:
        return attr.exists()
    if isinstance(expected, tuple):
        return attr.is_in(*(stored(attr, e) for e in expected))
    return attr == stored(attr, expected)


def spend_totp_step(account_id: str, secret: str, step: int) -> bool:
    """Record `step` as the last used under `secret` unless that step (or a later one) was used: False on a replay."""
    attrs = rows.Account
    try:
        rows.Account(account_id).update(
            actions=[attrs.totp_last_step.set(step)],
            condition=(attrs.totp_secret == secret)
            & (attrs.totp_last_step.does_not_exist() | (attrs.totp_last_step < step)))
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def spend_recovery_code(account_id: str, code_hash: str) -> bool:
    """Remove the recovery code's hash if the account still has it: False when it was spent or never was."""
    try:
        rows.Account(account_id).update(actions=[rows.Account.recovery_codes.delete({code_hash})],
                                        condition=rows.Account.recovery_codes.contains(code_hash))
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def set_webhook(account_id: str, url: str, events: frozenset[str], secret: str, *, replace_secret: bool) -> Account:
    """Store the webhook's URL and event types with `secret`, which replaces a stored secret only when
    `replace_secret` (else it is kept, read in the same write); the account as written."""
    attrs = rows.Account
    stored_secret = attrs.webhook_secret.set(secret if replace_secret else attrs.webhook_secret | secret)
    row = rows.Account(account_id)
    row.update(actions=[attrs.webhook_url.set(url), stored_secret, attrs.webhook_events.set(set(events))])
    return account_of(row)
