"""REST v1 for accounts: registration, verification, sign-in, API keys, the account's rights, activity, webhook."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.config import get_settings
from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.scopes import DEFAULT_SCOPES, Need, Scope, parse_scopes
from chalicelib.domain.webhook_events import parse_event_types

if TYPE_CHECKING:  # these load with the first request that needs them, not with the app (api/lazy.py)
    from chalicelib.api import account_views as views
    from chalicelib.services.accounts import two_factor, webhook_settings
    from chalicelib.services.accounts.authn import Principal
    from chalicelib.services.accounts.sessions import IssuedSession
    from chalicelib.services.accounts.webhook_settings import WebhookSetting
else:
    two_factor = lazy_module("chalicelib.services.accounts.two_factor")
    views = lazy_module("chalicelib.api.account_views")
    webhook_settings = lazy_module("chalicelib.services.accounts.webhook_settings")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

_EMAIL_MAX = 320
_PASSWORD_MAX = 1024  # the policy says 128; longer is refused by it with a clear message, not by a type error
_NO_STORE: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _reply(body: dict[str, Any], status: int = 200, headers: dict[str, str | list[str]] | None = None) -> Response:
    return Response(body=body, status_code=status, headers=headers or {"Content-Type": "application/json"})


def _no_content() -> Response:
    return Response(body="", status_code=204)


def user_agent() -> str | None:
    headers: Any = v1.request.headers or {}
    return headers.get("user-agent")


def session_principal() -> Principal:
    """The signed-in person calling (an API key is refused with SESSION_REQUIRED, whatever its scopes)."""
    return v1.principal().require(Need.SESSION)


def require_code(account: Account, body: dict[str, Any]) -> None:
    """A security change: with two-factor sign-in on, the body must carry a current code as `otp_code`."""
    code = fields.optional_text(body, "otp_code", max_length=64)
    wiring.account_services().signin.two_factor.require(account, code, v1.client_ip())


def _accepted(message: str) -> Response:
    return _reply({"status": "accepted", "message": message}, 202)


@v1.route("/v1/auth/register", methods=["POST"])
def register() -> Response:
    # A taken address gets the same 201 and shape, with a random id never usable (its owner is emailed instead).
    body = v1.json_body()
    account = wiring.account_services().accounts.register(
        fields.text(body, "email", max_length=_EMAIL_MAX), fields.text(body, "password", max_length=_PASSWORD_MAX),
        fields.text(body, "agreement_version", max_length=20), v1.client_ip())
    return _reply({"account_id": account.account_id, "status": account.status}, 201)


@v1.route("/v1/auth/verify", methods=["POST"])
def verify() -> Response:
    token = fields.text(v1.json_body(), "token", max_length=200)
    account = wiring.account_services().accounts.verify_email(token, v1.client_ip())
    return _reply({"account_id": account.account_id, "status": account.status})


@v1.route("/v1/auth/resend-verification", methods=["POST"])
def resend_verification() -> Response:
    email = fields.optional_text(v1.json_body(), "email", max_length=_EMAIL_MAX) or v1.principal().account.email
    wiring.account_services().accounts.resend_verification(email)
    return _accepted("If this address has an unconfirmed account, a new confirmation email is on its way.")


@v1.route("/v1/auth/login", methods=["POST"])
def login() -> Response:
    body = v1.json_body()
    started = wiring.account_services().signin.login(fields.text(body, "email", max_length=_EMAIL_MAX),
                                      fields.text(body, "password", max_length=_PASSWORD_MAX), v1.client_ip(),
                                      user_agent(), device_token_of(body))
    if isinstance(started, two_factor.Challenge):  # two-factor sign-in is on: no session until a code answers it
        return _reply({"mfa_required": True, "mfa_token": started.mfa_token, "expires_at": iso(started.expires_at)},
                      headers=_NO_STORE)
    return session_reply(started)


def device_token_of(body: dict[str, Any]) -> str | None:
    return fields.optional_text(body, "device_token", max_length=100)


def session_reply(session: IssuedSession) -> Response:
    return _reply({"token": session.token, "token_type": "Bearer", "expires_at": iso(session.expires_at),
                   "device_token": session.device_token}, headers=_NO_STORE)


@v1.route("/v1/auth/logout", methods=["POST"])
def logout() -> Response:
    principal = v1.principal()
    wiring.account_services().signin.logout(principal.account.account_id, principal.credential_kind,
                                            principal.token_hash, v1.client_ip())
    return _no_content()


@v1.route("/v1/auth/logout-all", methods=["POST"])
def logout_all() -> Response:
    wiring.account_services().signin.logout_everywhere(v1.principal().account.account_id, v1.client_ip())
    return _no_content()


@v1.route("/v1/auth/forgot-password", methods=["POST"])
def forgot_password() -> Response:
    wiring.account_services().recovery.forgot_password(fields.text(v1.json_body(), "email", max_length=_EMAIL_MAX))
    return _accepted("If this address has an account, an email with a reset link is on its way.")


@v1.route("/v1/auth/reset-password", methods=["POST"])
def reset_password() -> Response:
    body = v1.json_body()
    reset = wiring.account_services().recovery.reset_password(fields.text(body, "token", max_length=200),
                                               fields.text(body, "password", max_length=_PASSWORD_MAX), v1.client_ip(),
                                               revoke_api_keys=fields.boolean(body, "revoke_api_keys", default=True),
                                               otp_code=fields.optional_text(body, "otp_code", max_length=64))
    return _reply({"account_id": reset.account.account_id, "status": reset.account.status,
                   "api_keys_revoked": reset.api_keys_revoked})


@v1.route("/v1/me", methods=["GET"])
def me() -> dict[str, Any]:
    principal = v1.principal()
    return views.me(principal.account, principal.credential_kind, get_settings(), wiring.clock())


@v1.route("/v1/api-keys", methods=["POST"])
def create_api_key() -> Response:
    account = v1.principal().account
    body = v1.json_body()
    label = fields.optional_text(body, "label", max_length=100)
    scopes = _scopes(body)
    if Scope.ACCOUNT in scopes:  # such a key can change the webhook and make more keys: a security change
        require_code(account, body)
    issued = wiring.account_services().api_keys.create(account.account_id, label, v1.client_ip(), scopes)
    wiring.account_services().notices.api_key_created(account, label, v1.client_ip())
    return _reply({"api_key": issued.api_key, "key_id": issued.key_id, "label": issued.label,
                   "scopes": sorted(issued.scopes), "created_at": iso(issued.created_at)}, 201, _NO_STORE)


def _scopes(body: dict[str, Any]) -> frozenset[Scope]:
    raw = body.get("scopes")
    if raw is None:
        return DEFAULT_SCOPES
    if not isinstance(raw, list) or len(raw) > len(Scope):
        raise InvalidInput(f"'scopes' must be a list of up to {len(Scope)} of: {', '.join(Scope)}.",
                           details={"field": "scopes"})
    try:
        return parse_scopes(raw)
    except ValueError as problem:
        raise InvalidInput(f"'scopes': {problem}.", details={"field": "scopes"}) from None


@v1.route("/v1/api-keys", methods=["GET"])
def list_api_keys() -> dict[str, Any]:
    keys = wiring.account_services().api_keys.list(v1.principal().account.account_id)
    return {"items": [views.api_key(c) for c in keys]}


@v1.route("/v1/api-keys/{key_id}", methods=["DELETE"])
def revoke_api_key(key_id: str) -> Response:
    account_id = v1.principal().account.account_id
    if len(key_id) > 64:
        raise InvalidInput("That is not an API key id.", details={"field": "key_id"})
    wiring.account_services().api_keys.revoke(account_id, key_id, v1.client_ip())
    return _no_content()


@v1.route("/v1/account/report-unauthorized", methods=["POST"])
def report_unauthorized() -> dict[str, Any]:
    wiring.account_services().rights.report_unauthorized(v1.principal().account, v1.client_ip())
    return {"status": "locked", "message": "Your account is locked and every session and API key was revoked. "
                                           "We emailed you a link to choose a new password, which unlocks it."}


@v1.route("/v1/account/withdraw-consent", methods=["POST"])
def withdraw_consent() -> dict[str, Any]:
    """Leave (12.3); with `refund_remaining`, what can still be spent is first requested back (6.3), so a user who
    declines a new agreement version leaves in one step."""
    account = session_principal().account
    refund = None
    if fields.boolean(v1.json_body(), "refund_remaining", default=False):
        refund = _request_refund_of_what_remains(account.account_id)
    wiring.account_services().rights.withdraw_consent(account, v1.client_ip())
    return {"status": "deactivated", "message": "Your account is deactivated and your personal data removed.",
            "refund_request_id": refund}


def _request_refund_of_what_remains(account_id: str) -> str | None:
    from chalicelib.services.money.refund_requests import request_refund

    account = wiring.account_services().accounts.get(account_id)
    if int(account.balance_cents) - int(account.held_cents) <= 0:
        return None
    reason = "Withdrawing my consent (12.3): please pay back the remaining balance (6.3)."
    return str(request_refund(wiring.refund_requests(), wiring.support_desk(), account_id, reason).request_id)


@v1.route("/v1/account/accept-agreement", methods=["POST"])
def accept_agreement() -> dict[str, Any]:
    principal = v1.principal()
    body = v1.json_body()
    version = fields.text(body, "agreement_version" if "agreement_version" in body else "version", max_length=20)
    account = wiring.account_services().rights.accept_agreement(principal.account, version, v1.client_ip())
    accepted_at = account.agreement_accepted_at  # set by the acceptance just written
    return {"agreement_version": account.agreement_version,
            "agreement_accepted_at": iso(accepted_at) if accepted_at is not None else None}


@v1.route("/v1/webhook", methods=["GET"])
def get_webhook() -> Response:
    return _reply(_webhook_view(webhook_settings.webhook_of(v1.principal().account)), headers=_NO_STORE)


@v1.route("/v1/webhook", methods=["PUT"])
def put_webhook() -> Response:
    principal = v1.principal()
    body = v1.json_body()
    url = fields.text(body, "url", max_length=4096)
    rotate = body.get("rotate_secret", False)
    if not isinstance(rotate, bool):
        raise InvalidInput("'rotate_secret' must be true or false.", details={"field": "rotate_secret"})
    events = None
    if body.get("events") is not None:
        try:
            events = parse_event_types(body["events"])
        except ValueError as problem:
            raise InvalidInput(f"'events' {problem}.", details={"field": "events"}) from None
    require_code(principal.account, body)
    setting = wiring.account_services().webhooks.set(principal.account, url, rotate_secret=rotate, ip=v1.client_ip(),
                                                     events=events)
    wiring.account_services().notices.webhook_changed(principal.account, setting.url, v1.client_ip())
    return _reply(_webhook_view(setting), headers=_NO_STORE)


def _webhook_view(setting: WebhookSetting) -> dict[str, Any]:
    events = sorted(e.value for e in setting.events) if setting.url else None
    return {"url": setting.url, "secret": setting.secret, "events": events}


@v1.route("/v1/webhook", methods=["DELETE"])
def delete_webhook() -> Response:
    account = v1.principal().account
    require_code(account, v1.json_body())
    wiring.account_services().webhooks.clear(account, v1.client_ip())
    wiring.account_services().notices.webhook_changed(account, None, v1.client_ip())
    return _no_content()
