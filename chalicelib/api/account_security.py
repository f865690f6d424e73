"""REST v1 for the owner's own security: change the password while signed in, list and end sessions."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import accounts, fields
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput

if TYPE_CHECKING:  # loads with the first request that needs it, not with the app (api/lazy.py)
    from chalicelib.api import account_views as views
else:
    views = lazy_module("chalicelib.api.account_views")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

_PASSWORD_MAX = 1024  # the policy says 128; longer is refused by it with a clear message
_NO_STORE: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}


@v1.route("/v1/auth/change-password", methods=["POST"])
def change_password() -> Response:
    principal = accounts.session_principal()
    body = v1.json_body()
    accounts.require_code(principal.account, body)
    change = wiring.account_services().recovery.change_password(
        principal.account, fields.text(body, "current_password", max_length=_PASSWORD_MAX),
        fields.text(body, "new_password", max_length=_PASSWORD_MAX), v1.client_ip(), accounts.user_agent(),
        revoke_api_keys=fields.boolean(body, "revoke_api_keys", default=True))
    return Response(body={"token": change.session.token, "token_type": "Bearer",
                          "expires_at": iso(change.session.expires_at), "api_keys_revoked": change.api_keys_revoked},
                    status_code=200, headers=_NO_STORE)


@v1.route("/v1/sessions", methods=["GET"])
def list_sessions() -> Response:
    principal = accounts.session_principal()
    sessions = wiring.account_services().signin.credentials.list_sessions(principal.account)
    return Response(body={"items": [views.session(c, current=c.token_hash == principal.token_hash) for c in sessions]},
                    status_code=200, headers=_NO_STORE)


@v1.route("/v1/sessions/{session_id}", methods=["DELETE"])
def revoke_session(session_id: str) -> Response:
    principal = accounts.session_principal()
    if len(session_id) > 64:
        raise InvalidInput("That is not a session id.", details={"field": "session_id"})
    wiring.account_services().signin.revoke_session(principal.account, session_id, principal.token_hash, v1.client_ip())
    return Response(body="", status_code=204)
