"""Sessions and API keys as values: `Credential`, stored by the SHA-256 of its secret only (store/accounts.py)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.store import accounts as rows
from chalicelib.store import values
from chalicelib.store.base import JoinedWrite
from chalicelib.store.values import row_of, value_of


@dataclass(frozen=True)
class Credential:
    token_hash: str
    account_id: str
    kind: str  # "session" | "api_key"
    key_id: str  # public id for listing and revoking without the secret
    created_at: float
    label: str | None = None
    last_used_at: float | None = None
    expires_at: float | None = None
    ip: str | None = None  # a session's: where it was signed in from
    device: str | None = None  # a session's: the browser or client (User-Agent) that signed in
    scopes: frozenset[str] | None = None  # an API key's (domain/scopes.py); none: an old key, "orders"


def read(token_hash: str, *, consistent: bool) -> Credential | None:
    return values.read(Credential, rows.Credential, token_hash, consistent=consistent)


def read_many(token_hashes: Iterable[str]) -> dict[str, Credential]:
    """Those of these credentials that exist, by hash (one batch read; a job may only look credentials up so)."""
    return {row.token_hash: value_of(Credential, row) for row in rows.Credential.batch_get(list(token_hashes))}


def save(credential: Credential) -> None:
    row_of(rows.Credential, credential).save()


def of_account(account_id: str, kind: str | None = None, *, newest_first: bool = False) -> list[Credential]:
    """The account's credentials (of one kind, when given) by creation time; the index is eventually consistent."""
    of_kind = rows.Credential.kind == kind if kind else None
    found = rows.Credential.by_account.query(account_id, filter_condition=of_kind, scan_index_forward=not newest_first)
    return [value_of(Credential, row) for row in found]


def touch(token_hash: str, now: float) -> None:
    """Record its last use, if it can: a credential deleted a moment ago (or a refused write) records nothing."""
    with contextlib.suppress(UpdateError):
        rows.Credential(token_hash).update(actions=[rows.Credential.last_used_at.set(now)],
                                           condition=rows.Credential.token_hash.exists())


def touching(token_hash: str, now: float) -> JoinedWrite:
    """`touch` as a write of a transaction, which fails when the credential was deleted."""
    def write(tx: TransactWrite) -> None:
        tx.update(rows.Credential(token_hash), actions=[rows.Credential.last_used_at.set(now)],
                  condition=rows.Credential.token_hash.exists())

    return write


def delete(token_hash: str) -> None:
    rows.Credential(token_hash).delete()


def delete_all(token_hashes: Iterable[str]) -> None:
    """Delete these credentials in batches of 25 (no condition: a missing one is fine)."""
    with rows.Credential.batch_write() as batch:
        for token_hash in token_hashes:
            batch.delete(rows.Credential(token_hash))
