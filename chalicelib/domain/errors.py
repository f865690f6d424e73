"""Domain errors: one hierarchy, each with a stable code; adapters map them to their wire format."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user or operator may see. `code` is UPPER_SNAKE and stable."""

    code = "ERROR"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class InvalidInput(DomainError):
    code = "INVALID_INPUT"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class ScopeMissing(Forbidden):
    """An API key without the scope a route needs (domain/scopes.py); a session has every scope."""

    code = "SCOPE_REQUIRED"


class AccountBlocked(Forbidden):
    code = "ACCOUNT_BLOCKED"


class AccountInactive(Forbidden):
    code = "ACCOUNT_INACTIVE"


class AccountUnverified(Forbidden):
    code = "EMAIL_NOT_VERIFIED"


class AccountRestricted(Forbidden):
    code = "ACCOUNT_RESTRICTED"


class InsufficientBalance(DomainError):
    code = "INSUFFICIENT_BALANCE"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class AlreadyApplied(Conflict):
    """The cause of a ledger entry was already applied: the retry is a no-op for the caller."""

    code = "ALREADY_APPLIED"


class EarlyCancelDenied(Conflict):
    code = "EARLY_CANCEL_DENIED"


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"


class ReactivationUnavailable(Conflict):
    """The number cannot be had again for the service: never got a code, reported, its partner's window is over,
    or its partner does not sell reactivations."""

    code = "REACTIVATION_NOT_AVAILABLE"


class NoNumbers(DomainError):
    code = "NO_NUMBERS"


class PriceAboveMax(DomainError):
    code = "WRONG_MAX_PRICE"


class RateLimited(DomainError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Maintenance(DomainError):
    code = "MAINTENANCE"


class PartnerError(DomainError):
    """A partner failed in a way that is not a plain 'no numbers' (timeout, 5xx, garbage)."""

    code = "PARTNER_ERROR"


class PaymentError(DomainError):
    code = "PAYMENT_ERROR"


class RefundRefused(PaymentError):
    """The payment provider will never refund this payment (it was charged back): retrying cannot help."""


class PaymentUnavailable(PaymentError):
    """The payment provider could not answer now (network, rate limit, its own error): the same call may work later."""
