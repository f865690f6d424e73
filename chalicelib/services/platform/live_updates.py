"""Live updates: a signed-in page holds a WebSocket, and what changes for its account is pushed down it at once.

Deployed, the socket ends at API Gateway's WebSocket API (Chalice's `on_ws_*` handlers, api/live.py); locally at
infra/local/live_gateway.py, which sends the same events and answers the same management API. A page connects
(from our own origin, when a browser says one), then proves who it is with its session token in its first message,
never in the URL, which gateways log; only then is the connection its account's. A socket silent past
AUTH_SECONDS is closed by the `close_silent_sockets` job. Any message that is not a well-formed `auth` is
answered with an error and the socket closed, writing nothing.

Pushing is best effort and never fails the change it tells of: the page polls as well, slowly while its socket
is open. An account's `live_until` says whether any page may listen, so an SMS for an account nobody watches costs
no query (the SMS path reads the account anyway).
"""
from __future__ import annotations

import json
from typing import Any, Protocol

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import DomainError, InvalidInput, Unauthenticated
from chalicelib.domain.scopes import need_of
from chalicelib.observability import logger
from chalicelib.providers.live_sockets import ConnectionGone
from chalicelib.services.accounts.authn import authenticate_from, credential_refusal
from chalicelib.services.platform.rate_limit import RateLimiter
from chalicelib.store import credential_repo
from chalicelib.store import live as live_store
from chalicelib.store.credential_repo import Credential

CONNECTION_SECONDS = 2 * 3600  # API Gateway closes a WebSocket after 2 hours
AUTH_SECONDS = 10  # a socket that has not authenticated by then is closed by the next sweep
MAX_MESSAGE_BYTES = 2048  # an auth message is ~100 bytes; anything near this is not one
_MAX_TOKEN_LENGTH = 512
_MAX_BRACKETS = 8
_SWEEP_PAGE = 100
ACTIONS = ("auth",)  # what a page may send (domain/scopes.py has each one's line as "live:<action>")
_AUTH_SHAPE = 'The message must be {"action": "auth", "token": <session token>}.'


class Sockets(Protocol):
    """The management API (providers/live_sockets.py); both raise ConnectionGone for a closed connection."""

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None: ...

    def close(self, endpoint: str, connection_id: str) -> None: ...


class Listening(Protocol):
    """What `tell` reads of an account: its id, until when a page may listen, and what ends its credentials."""

    @property
    def account_id(self) -> str: ...

    @property
    def live_until(self) -> Any: ...

    @property
    def status(self) -> str: ...

    @property
    def sessions_valid_after(self) -> float | None: ...

    @property
    def keys_valid_after(self) -> float | None: ...


class LiveUpdates:
    def __init__(self, clock: Clock, sockets: Sockets, failed_credentials: RateLimiter, *, page_origin: str | None,
                 management_scheme: str = "https") -> None:
        self.clock = clock
        self.sockets = sockets
        self.failed_credentials = failed_credentials
        self.page_origin = page_origin  # the dashboard's origin; None (a stage without PUBLIC_BASE_URL): no browser
        self.management_scheme = management_scheme

    def endpoint(self, domain_name: str, stage: str) -> str:
        """The management API of the socket API an event came through (its own domain and stage)."""
        return f"{self.management_scheme}://{domain_name}/{stage}"

    def connect(self, connection_id: str, endpoint: str, origin: str | None) -> bool:
        """Accept a socket awaiting its first message; False (refuse the handshake) for a page of another origin.

        A client with no Origin is not a browser: it could send any Origin it liked, and it proves itself with a
        token like everyone else. The check stops another site's page from opening sockets in a visitor's name.
        """
        if origin is not None and origin != self.page_origin:
            return False
        now = self.clock.now()
        live_store.open_connection(connection_id, endpoint, now, now + CONNECTION_SECONDS)
        return True

    def receive(self, connection_id: str, endpoint: str, body: str | None, ip: str, *, binary: bool) -> None:
        """A message from a page: a good `auth` makes the socket its account's and is answered `ready`; anything
        else is answered with an error and the socket closed."""
        try:
            token = _token_of(body, binary=binary)
            principal = authenticate_from(token, ip, self.clock, self.failed_credentials).require(need_of("live:auth"))
        except DomainError as refused:
            self._refuse(endpoint, connection_id, refused)
            return
        now = self.clock.now()
        if not live_store.keep_for_account(connection_id, endpoint, principal.account.account_id,
                                           principal.token_hash, now + CONNECTION_SECONDS):
            return  # the socket closed while it authenticated: nothing to tell, nothing kept
        self._send(endpoint, connection_id, {"type": "ready"})

    def disconnect(self, connection_id: str) -> None:
        live_store.forget(connection_id)

    def tell(self, account: Listening, message: dict[str, Any]) -> int:
        """Push `message` to every page of the account that listens while signed in; how many got it. A socket
        whose session or key has ended since (signed out, revoked, expired, the account blocked) is closed instead.
        Never raises: a push that fails is logged, and the page's polling shows the change a little later."""
        try:
            now = self.clock.now()
            if account.live_until is None or account.live_until < now:
                return 0
            listeners = live_store.listeners_of(account.account_id, now)
            if not listeners:
                return 0
            states = credential_repo.read_many({x.token_hash for x in listeners if x.token_hash})
            sent = 0
            for listener in listeners:
                state = states.get(listener.token_hash or "")
                if state is None or not _still_signed_in(account, state, now):
                    self._close(listener.endpoint, listener.connection_id)
                    continue
                sent += self._send(listener.endpoint, listener.connection_id, message)
            return sent
        except Exception:  # a push must never fail SMS intake
            logger.warning("live update not sent", exc_info=True)
            return 0

    def close_silent(self) -> int:
        """Close the sockets that connected more than AUTH_SECONDS ago and never authenticated; how many."""
        closed = 0
        for listener in live_store.silent_since(self.clock.now() - AUTH_SECONDS, _SWEEP_PAGE):
            if live_store.forget_if_silent(listener.connection_id):  # not one that authenticated a moment ago
                self._close_socket(listener.endpoint, listener.connection_id)
                closed += 1
        return closed

    def _refuse(self, endpoint: str, connection_id: str, refused: DomainError) -> None:
        self._send(endpoint, connection_id, {"type": "error", "code": refused.code, "message": refused.message})
        self._close(endpoint, connection_id)

    def _send(self, endpoint: str, connection_id: str, message: dict[str, Any]) -> bool:
        """One message to one connection; False (the connection forgotten when gone) when it did not go."""
        try:
            self.sockets.post(endpoint, connection_id, json.dumps(message, separators=(",", ":")).encode())
            return True
        except ConnectionGone:
            live_store.forget(connection_id)
        except Exception:  # an unreachable gateway: the page polls
            logger.warning("live update not sent", exc_info=True)
        return False

    def _close(self, endpoint: str, connection_id: str) -> None:
        self._close_socket(endpoint, connection_id)
        live_store.forget(connection_id)

    def _close_socket(self, endpoint: str, connection_id: str) -> None:
        try:
            self.sockets.close(endpoint, connection_id)
        except ConnectionGone:
            pass
        except Exception:  # the gateway's own idle timeout closes it in the end
            logger.warning("live socket not closed", exc_info=True)


def _still_signed_in(account: Listening, credential: Credential, now: float) -> bool:
    return credential_refusal(credential, account, now) is None


def _token_of(body: str | None, *, binary: bool) -> str:
    """The session token of an auth message, or a DomainError saying what is wrong (nothing of the message is
    echoed back)."""
    if binary or body is None:
        raise InvalidInput("Only text messages are accepted. " + _AUTH_SHAPE, code="BAD_MESSAGE")
    if len(body.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"The message is over {MAX_MESSAGE_BYTES} bytes. " + _AUTH_SHAPE, code="BAD_MESSAGE")
    if body.count("{") + body.count("[") > _MAX_BRACKETS:  # an auth message has one; never parse deep nesting
        raise InvalidInput("The message is nested too deeply. " + _AUTH_SHAPE, code="BAD_MESSAGE")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("The message is not JSON. " + _AUTH_SHAPE, code="BAD_MESSAGE") from None
    if not isinstance(message, dict) or message.get("action") not in ACTIONS:
        raise InvalidInput("Unknown action: the only one is 'auth'. " + _AUTH_SHAPE, code="UNKNOWN_ACTION")
    token = message.get("token")
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        raise Unauthenticated("The token is missing or malformed. " + _AUTH_SHAPE)
    return token
