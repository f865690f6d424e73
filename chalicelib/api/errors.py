"""Domain errors → the REST error envelope of API.md: the one table for REST v1."""
from __future__ import annotations

from chalice import Response

from chalicelib.domain import errors as e

# Most specific first: the first class the error is an instance of decides the status.
_STATUS: list[tuple[type[e.DomainError], int]] = [
    (e.InvalidInput, 422),
    (e.Unauthenticated, 401),
    (e.Forbidden, 403),
    (e.InsufficientBalance, 402),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.NoNumbers, 409),
    (e.PriceAboveMax, 409),
    (e.RateLimited, 429),
    (e.Maintenance, 503),
    (e.PartnerError, 503),
    (e.PaymentError, 402),
]


def status_for(error: e.DomainError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


def error_body(code: str, message: str, details: dict[str, object] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def error_response(error: e.DomainError) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if isinstance(error, e.RateLimited):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, e.Maintenance):
        headers["Retry-After"] = "300"
    return Response(body=error_body(error.code, error.message, error.details), status_code=status_for(error),
                    headers=headers)
