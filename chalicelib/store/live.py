"""Open WebSocket connections of dashboard pages (live updates): who is listening, where to reach them, and which
sockets connected but never proved who they are."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.accounts import Account
from chalicelib.store.base import table
from chalicelib.store.transaction import refused_if_condition_failed

_AWAITING = "auth"  # the one value of `awaiting`: a sparse index holds only the sockets still to authenticate


class ConnectionsByAccount(GlobalSecondaryIndex["LiveConnection"]):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)


class AwaitingAuth(GlobalSecondaryIndex["LiveConnection"]):
    class Meta:
        index_name = "awaiting_auth"
        projection = AllProjection()

    awaiting = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


@table("live_connections")
class LiveConnection(Model):
    """One WebSocket connection (API Gateway's connection id): first awaiting its proof, then an account's; removed
    on disconnect, by the silent-socket sweep, or by TTL (API Gateway closes a connection after 2 hours)."""

    class Meta:
        table_name = "live_connections"

    connection_id = UnicodeAttribute(hash_key=True)
    endpoint = UnicodeAttribute()  # the management API that reaches it: https://<domain>/<stage>
    created_at = NumberAttribute()
    expires_at = TTLAttribute()
    account_id = UnicodeAttribute(null=True)  # set once the page proved its session
    token_hash = UnicodeAttribute(null=True)  # the credential it proved it with (a push checks it still stands)
    awaiting = UnicodeAttribute(null=True)  # "auth" until then (the awaiting_auth index)
    by_account = ConnectionsByAccount()
    awaiting_auth = AwaitingAuth()


@dataclass(frozen=True)
class Listener:
    """A socket the management API reaches: its connection id at its endpoint (and the credential it proved)."""

    connection_id: str
    endpoint: str
    token_hash: str | None = None


def open_connection(connection_id: str, endpoint: str, now: float, expires_at: float) -> None:
    LiveConnection(connection_id, endpoint=endpoint, created_at=now, expires_at=_at(expires_at),
                   awaiting=_AWAITING).save()


def keep_for_account(connection_id: str, endpoint: str, account_id: str, token_hash: str, expires_at: float) -> bool:
    """The connection is the account's from now on, and the account's hint says a page may be listening until
    `expires_at` (an SMS looks its connections up only before then). False when the connection is already gone
    (disconnected, or closed by the silent-socket sweep while it authenticated): nothing is written back."""
    try:
        LiveConnection(connection_id).update(
            actions=[LiveConnection.endpoint.set(endpoint), LiveConnection.expires_at.set(_at(expires_at)),
                     LiveConnection.account_id.set(account_id), LiveConnection.token_hash.set(token_hash),
                     LiveConnection.awaiting.remove()],
            condition=LiveConnection.connection_id.exists())
    except UpdateError as exc:
        refused_if_condition_failed(exc)
        return False
    Account(account_id).update(actions=[Account.live_until.set(expires_at)], condition=Account.account_id.exists())
    return True


def listeners_of(account_id: str, now: float) -> list[Listener]:
    return [Listener(c.connection_id, c.endpoint, c.token_hash) for c in LiveConnection.by_account.query(account_id)
            if c.expires_at is None or c.expires_at.timestamp() > now]



def silent_since(before: float, limit: int) -> list[Listener]:
    """Sockets that connected before `before` and still have not authenticated (oldest first)."""
    return [Listener(c.connection_id, c.endpoint) for c in LiveConnection.awaiting_auth.query(
        _AWAITING, LiveConnection.created_at < before, limit=limit)]


def forget_if_silent(connection_id: str) -> bool:
    """Forget the connection if it still has not authenticated (read consistently, in the delete's condition: the
    sweep's index may be a moment behind an auth); whether it was."""
    try:
        LiveConnection(connection_id).delete(condition=LiveConnection.awaiting.exists())
    except DeleteError as exc:
        refused_if_condition_failed(exc)
        return False
    return True


def forget(connection_id: str) -> None:
    LiveConnection(connection_id).delete()


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
