"""REST v1 for two-factor sign-in: the sign-in's second step, and turning it on (with recovery codes) and off."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import accounts, fields
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module

if TYPE_CHECKING:  # the service loads with the first request that needs it (api/lazy.py)
    from chalicelib.services.accounts import two_factor
    from chalicelib.services.accounts.two_factor import TwoFactor
else:
    two_factor = lazy_module("chalicelib.services.accounts.two_factor")

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

_CODE_MAX = 64
_PASSWORD_MAX = 1024  # the policy says 128; longer is simply not the password
_NO_STORE: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _two_factor() -> TwoFactor:
    return wiring.account_services().signin.two_factor


def _reply(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers=_NO_STORE)


@v1.route("/v1/auth/login/mfa", methods=["POST"])
def login_mfa() -> Response:
    body = v1.json_body()
    session = wiring.account_services().signin.complete_mfa(
        fields.text(body, "mfa_token", max_length=200), fields.text(body, "code", max_length=_CODE_MAX),
        v1.client_ip(), accounts.user_agent(), accounts.device_token_of(body))
    return accounts.session_reply(session)


@v1.route("/v1/account/two-factor", methods=["GET"])
def status() -> Response:
    account = accounts.session_principal().account
    return _reply({"enabled": two_factor.is_on(account),
                   "recovery_codes_left": _two_factor().recovery_codes_left(account)})


@v1.route("/v1/account/two-factor/setup", methods=["POST"])
def setup() -> Response:
    enrollment = _two_factor().begin(accounts.session_principal().account)
    return _reply({"secret": enrollment.secret, "otpauth_uri": enrollment.otpauth_uri}, 201)


@v1.route("/v1/account/two-factor/enable", methods=["POST"])
def enable() -> Response:
    # The current password too: with a stolen session alone, a stranger could tie the account to their own phone.
    account = accounts.session_principal().account
    body = v1.json_body()
    code = fields.text(body, "otp_code", max_length=_CODE_MAX)
    password = fields.text(body, "current_password", max_length=_PASSWORD_MAX)
    wiring.account_services().signin.confirm_password(account, password, v1.client_ip())
    return _reply({"enabled": True, "recovery_codes": _two_factor().enable(account, code, v1.client_ip())})


@v1.route("/v1/account/two-factor/disable", methods=["POST"])
def disable() -> Response:
    account = accounts.session_principal().account
    _two_factor().disable(account, fields.optional_text(v1.json_body(), "otp_code", max_length=_CODE_MAX),
                          v1.client_ip())
    return _reply({"enabled": False})


@v1.route("/v1/account/two-factor/recovery-codes", methods=["POST"])
def recovery_codes() -> Response:
    account = accounts.session_principal().account
    codes = _two_factor().regenerate(account, fields.optional_text(v1.json_body(), "otp_code", max_length=_CODE_MAX),
                                     v1.client_ip())
    return _reply({"recovery_codes": codes})
