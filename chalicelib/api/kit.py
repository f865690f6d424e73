"""What every REST v1 route shares: domain errors mapped in one place, JSON bodies parsed strictly, auth."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, ChaliceUnhandledError, Response
from chalice.app import ChaliceViewError, Request

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.errors import error_body, error_response
from chalicelib.api.fields import MAX_BODY_BYTES, json_object
from chalicelib.api.lazy import lazy_module
from chalicelib.domain.errors import DomainError, NotFound
from chalicelib.domain.ids import is_identifier
from chalicelib.domain.scopes import need_of

if TYPE_CHECKING:
    from chalicelib.services.accounts import authn
    from chalicelib.services.accounts.authn import Principal
else:
    authn = lazy_module("chalicelib.services.accounts.authn")  # with the store's models, on the first request (lazy.py)


def source_ip(request_context: Any) -> str | None:
    """The caller's address as API Gateway saw it (`requestContext.identity.sourceIp`), or None."""
    identity = (request_context or {}).get("identity") or {}
    return str(identity["sourceIp"]) if identity.get("sourceIp") else None


class RestRoutes:
    """`@v1.route(path, methods=[...])`: a Chalice route whose domain errors become the error envelope."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    @property
    def request(self) -> Request:
        return self.blueprint.current_request

    def route(self, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def guarded(**params: Any) -> Any:
                try:
                    if not all(is_identifier(value) for value in params.values()):
                        # Every path parameter is an id or a name we issued: anything else names nothing.
                        raise NotFound("There is nothing at this address.")
                    return view(**params)
                except DomainError as error:
                    return error_response(error)
                except ChaliceViewError as error:
                    return Response(body=error_body("BAD_REQUEST", str(error)), status_code=error.STATUS_CODE)
                except Exception as error:  # answered by middleware.unexpected_errors_as_envelope (500 or 503)
                    raise ChaliceUnhandledError("unplanned failure") from error

            self.blueprint.route(path, **kwargs)(guarded)
            return view

        return register

    def raw_bytes(self) -> bytes:
        """The request body exactly as received (what signatures are computed over)."""
        body = self.request.raw_body or b""
        return body.encode() if isinstance(body, str) else body

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object; anything else is a 422 with a message, never a 500."""
        raw = self.raw_bytes()
        if len(raw) <= MAX_BODY_BYTES and not raw.strip():
            return {}  # no body: no fields
        return json_object(raw, "request body")

    def principal(self) -> Principal:
        """The authenticated caller (session token or API key) allowed on this route by domain/scopes.py's table,
        or a 401/403 domain error."""
        headers: Any = self.request.headers or {}
        return self.caller(fields.bearer(headers.get("authorization"))).require(need_of(self.route_key()))

    def caller(self, secret: str | None) -> Principal:
        """Who sends `secret` (a 401/403 domain error when nobody may), this request's IP and id noted."""
        context: dict[str, Any] = dict(self.request.context or {})
        request_id = context.get("requestId")
        return authn.authenticate_from(secret, self.client_ip(), wiring.clock(), wiring.failed_credentials_limiter(),
                                 request_id=request_id if isinstance(request_id, str) else None)

    def route_key(self) -> tuple[str, str]:
        """(method, path as the route declares it), the key of domain/scopes.ROUTE_NEEDS."""
        context: dict[str, Any] = dict(self.request.context or {})
        return str(self.request.method).upper(), str(context.get("resourcePath") or "")

    def client_ip(self) -> str:
        headers: Any = self.request.headers or {}
        forwarded = str(headers.get("x-forwarded-for") or "")
        return source_ip(self.request.context) or forwarded.split(",")[0].strip() or "0.0.0.0"
