"""What an API key may do: its scopes, and the one table of which route needs which (sessions may do everything).

A key carries one or more scopes:
- `orders`: order numbers and act on them (cancel, finish, retry, ban), and read activations, balance and money;
- `read`: read only (activations, balance, ledger, payments, activity, tickets);
- `account`: manage the account's API keys, its SMS webhook, and sign out everywhere.
Keys made before scopes existed carry none stored and act as `orders`. A signed-in person (a session) has every
scope; a few routes take a session only (a password, the sessions list), whatever scopes a key has.

A route missing from ROUTE_NEEDS takes a session only: forgetting a line refuses keys instead of letting them in.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable


class Scope(enum.StrEnum):
    ORDERS = "orders"
    READ = "read"
    ACCOUNT = "account"


DEFAULT_SCOPES = frozenset({Scope.ORDERS})
ALL_SCOPES = frozenset(Scope)
_NAMES = frozenset(s.value for s in Scope)


class Need(enum.Enum):
    """What a caller needs for a route; `scopes` are the key scopes any one of which suffices."""

    PUBLIC = ("no credential", frozenset(Scope))
    ANY_KEY = ("any key", frozenset(Scope))
    READ = ("`read` or `orders`", frozenset({Scope.READ, Scope.ORDERS}))
    ORDERS = ("`orders`", frozenset({Scope.ORDERS}))
    ACCOUNT = ("`account`", frozenset({Scope.ACCOUNT}))
    SESSION = ("a signed-in session", frozenset[Scope]())

    def __init__(self, label: str, scopes: frozenset[Scope]) -> None:
        self.label = label
        self.scopes = scopes

    def allows_key(self, key_scopes: frozenset[Scope]) -> bool:
        return bool(self.scopes & key_scopes)


# Which scope each route needs from an API key. REST v1 by (method, path as declared); the SMS-Activate handler API
# by "handler:<action>"; the 5sim API by (method, path under /5sim/v1); a live-updates socket's messages by
# "live:<action>". A session passes every line. Keep this the only place that says it
# (tests/unit/test_key_scopes.py checks that every route of the app is here).
ROUTE_NEEDS: dict[tuple[str, str] | str, Need] = {
    # public: no credential at all
    ("GET", "/"): Need.PUBLIC,
    ("GET", "/static/{name}"): Need.PUBLIC,
    ("GET", "/health"): Need.PUBLIC,
    ("GET", "/v1/agreement"): Need.PUBLIC,
    ("GET", "/v1/agreement/{version}"): Need.PUBLIC,
    ("GET", "/agreement/{version}"): Need.PUBLIC,  # the link in the new-version email: to the dashboard's page
    ("GET", "/v1/openapi.json"): Need.PUBLIC,
    ("GET", "/v1/catalog"): Need.PUBLIC,
    ("GET", "/v1/services"): Need.PUBLIC,
    ("GET", "/v1/countries"): Need.PUBLIC,
    ("POST", "/v1/auth/register"): Need.PUBLIC,
    ("POST", "/v1/auth/verify"): Need.PUBLIC,
    ("POST", "/v1/auth/login"): Need.PUBLIC,
    ("POST", "/v1/auth/login/mfa"): Need.PUBLIC,
    ("POST", "/v1/auth/forgot-password"): Need.PUBLIC,
    ("POST", "/v1/auth/reset-password"): Need.PUBLIC,
    ("POST", "/v1/support/contact"): Need.PUBLIC,  # the sender's emailed link instead
    ("POST", "/v1/support/contact/confirm"): Need.PUBLIC,
    ("POST", "/v1/webhooks/stripe"): Need.PUBLIC,  # Stripe's signature instead
    ("POST", "/v1/partners/{name}/push"): Need.PUBLIC,  # the partner's signature instead
    ("POST", "/v1/partners/{name}/smshub"): Need.PUBLIC,  # the agent's key instead
    ("GET", "/guest/countries"): Need.PUBLIC,
    ("GET", "/guest/products/{country}/{operator}"): Need.PUBLIC,
    ("GET", "/guest/prices"): Need.PUBLIC,
    # REST v1: reading
    ("GET", "/v1/me"): Need.ANY_KEY,
    ("GET", "/v1/live"): Need.READ,  # where a page opens its live-updates WebSocket
    "live:auth": Need.READ,  # the socket's first message (api/live.py): then the account's activations are pushed
    ("POST", "/v1/auth/resend-verification"): Need.ANY_KEY,
    ("POST", "/v1/auth/logout"): Need.ANY_KEY,  # a key is told to revoke itself with DELETE /v1/api-keys/{id}
    ("GET", "/v1/activations"): Need.READ,
    ("GET", "/v1/activations/{activation_id}"): Need.READ,
    ("GET", "/v1/rentals"): Need.READ,
    ("GET", "/v1/rentals/prices"): Need.READ,  # asks the partners (cached a minute): a key, not the public
    ("GET", "/v1/rentals/{rental_id}"): Need.READ,
    ("GET", "/v1/rentals/{rental_id}/sms"): Need.READ,
    ("GET", "/v1/rentals/{rental_id}/extension-price"): Need.READ,
    ("GET", "/v1/ledger"): Need.READ,
    ("GET", "/v1/activations/export.csv"): Need.READ,
    ("GET", "/v1/ledger/export.csv"): Need.READ,
    ("GET", "/v1/activity/export.csv"): Need.READ,
    ("GET", "/v1/payments/export.csv"): Need.READ,
    ("GET", "/v1/payments"): Need.READ,
    ("GET", "/v1/refund-requests"): Need.READ,
    ("GET", "/v1/refund-requests/preview"): Need.READ,
    ("GET", "/v1/activity"): Need.READ,
    ("GET", "/v1/webhook/deliveries"): Need.READ,  # no secret in it: what was sent, when, and the answer
    ("GET", "/v1/support/tickets"): Need.READ,
    ("GET", "/v1/support/tickets/{ticket_id}"): Need.READ,
    ("GET", "/v1/topups/cards"): Need.READ,
    # REST v1: ordering
    ("POST", "/v1/activations"): Need.ORDERS,
    ("POST", "/v1/activations/{activation_id}/cancel"): Need.ORDERS,
    ("POST", "/v1/activations/{activation_id}/finish"): Need.ORDERS,
    ("POST", "/v1/activations/{activation_id}/retry"): Need.ORDERS,
    ("POST", "/v1/activations/{activation_id}/ban"): Need.ORDERS,
    ("POST", "/v1/rentals"): Need.ORDERS,
    ("POST", "/v1/rentals/{rental_id}/extend"): Need.ORDERS,
    ("POST", "/v1/rentals/{rental_id}/finish"): Need.ORDERS,
    ("POST", "/v1/rentals/{rental_id}/cancel"): Need.ORDERS,
    ("GET", "/v1/activations/{activation_id}/reactivation"): Need.READ,
    ("POST", "/v1/activations/{activation_id}/reactivate"): Need.ORDERS,
    ("POST", "/v1/activations/bulk"): Need.ORDERS,
    ("POST", "/v1/activations/multi"): Need.ORDERS,
    # REST v1: the account (keys, webhook, signing out everywhere, money out of the card, support, agreement)
    ("GET", "/v1/api-keys"): Need.ACCOUNT,
    ("POST", "/v1/api-keys"): Need.ACCOUNT,
    ("DELETE", "/v1/api-keys/{key_id}"): Need.ACCOUNT,
    ("GET", "/v1/webhook"): Need.ACCOUNT,  # it shows the signing secret
    ("PUT", "/v1/webhook"): Need.ACCOUNT,
    ("DELETE", "/v1/webhook"): Need.ACCOUNT,
    ("POST", "/v1/webhook/deliveries/{delivery_id}/redeliver"): Need.ACCOUNT,
    ("POST", "/v1/auth/logout-all"): Need.ACCOUNT,
    ("POST", "/v1/account/report-unauthorized"): Need.ACCOUNT,
    ("POST", "/v1/account/accept-agreement"): Need.ACCOUNT,
    ("POST", "/v1/topups/card-setup"): Need.ACCOUNT,
    ("POST", "/v1/topups"): Need.ACCOUNT,
    ("POST", "/v1/refund-requests"): Need.ACCOUNT,
    ("POST", "/v1/support/tickets"): Need.ACCOUNT,
    ("POST", "/v1/support/tickets/{ticket_id}/messages"): Need.ACCOUNT,
    # REST v1: a person only
    ("POST", "/v1/auth/change-password"): Need.SESSION,
    ("GET", "/v1/sessions"): Need.SESSION,
    ("DELETE", "/v1/sessions/{session_id}"): Need.SESSION,
    ("POST", "/v1/account/withdraw-consent"): Need.SESSION,
    ("GET", "/v1/account/two-factor"): Need.SESSION,
    ("POST", "/v1/account/two-factor/setup"): Need.SESSION,
    ("POST", "/v1/account/two-factor/enable"): Need.SESSION,
    ("POST", "/v1/account/two-factor/disable"): Need.SESSION,
    ("POST", "/v1/account/two-factor/recovery-codes"): Need.SESSION,
    # SMS-Activate handler API (/stubs/handler_api.php)
    "handler:getBalance": Need.READ,
    "handler:getBalanceAndCashBack": Need.READ,
    "handler:getNumbersStatus": Need.READ,
    "handler:getCountries": Need.READ,
    "handler:getPrices": Need.READ,
    "handler:getTopCountriesByService": Need.READ,
    "handler:getStatus": Need.READ,
    "handler:getStatusV2": Need.READ,
    "handler:getFullSms": Need.READ,
    "handler:getActiveActivations": Need.READ,
    "handler:getOperators": Need.READ,
    "handler:getServicesList": Need.READ,
    "handler:getNumber": Need.ORDERS,
    "handler:getNumberV2": Need.ORDERS,
    "handler:setStatus": Need.ORDERS,
    "handler:getRentServicesAndCountries": Need.READ,
    "handler:getRentStatus": Need.READ,
    "handler:getRentList": Need.READ,
    "handler:getContinueRentPriceNumber": Need.READ,
    "handler:getRentNumber": Need.ORDERS,
    "handler:setRentStatus": Need.ORDERS,
    "handler:continueRentNumber": Need.ORDERS,
    "handler:checkExtraActivation": Need.READ,
    "handler:getExtraActivation": Need.ORDERS,
    "handler:getMultiServiceNumber": Need.ORDERS,
    # 5sim API (/5sim/v1)
    ("GET", "/user/profile"): Need.READ,
    ("GET", "/user/orders"): Need.READ,
    ("GET", "/user/payments"): Need.READ,
    ("GET", "/user/check/{order_id}"): Need.READ,
    ("GET", "/user/sms/inbox/{order_id}"): Need.READ,
    ("GET", "/user/buy/activation/{country}/{operator}/{product}"): Need.ORDERS,
    ("GET", "/user/buy/hosting/{country}/{operator}/{product}"): Need.ORDERS,
    ("GET", "/user/reuse/{product}/{number}"): Need.ORDERS,
    ("GET", "/user/finish/{order_id}"): Need.ORDERS,
    ("GET", "/user/cancel/{order_id}"): Need.ORDERS,
    ("GET", "/user/ban/{order_id}"): Need.ORDERS,
}


def need_of(route: tuple[str, str] | str) -> Need:
    return ROUTE_NEEDS.get(route, Need.SESSION)


def parse_scopes(raw: Iterable[object]) -> frozenset[Scope]:
    """The scopes named in `raw`; raises ValueError naming the first unknown one, or when there is none."""
    found: set[Scope] = set()
    for name in raw:
        if not isinstance(name, str) or name not in _NAMES:
            raise ValueError(f"unknown scope {str(name)[:40]!r}; scopes are {', '.join(s.value for s in Scope)}")
        found.add(Scope(name))
    if not found:
        raise ValueError("a key needs at least one scope")
    return frozenset(found)


def stored_scopes(raw: Iterable[str] | None) -> frozenset[Scope]:
    """A key row's scopes; rows from before scopes existed have none stored and act as `orders`."""
    return frozenset(Scope(s) for s in raw if s in _NAMES) if raw else DEFAULT_SCOPES
