"""The one interface every upstream partner adapter implements (agreement 1.2: numbers are rented from partners)."""
from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class PartnerStatus(enum.Enum):
    """What a partner says about one of its activations, normalised across protocols."""

    WAITING = "WAITING"          # number issued, no SMS yet
    WAITING_RETRY = "WAITING_RETRY"  # another SMS requested, not yet arrived
    RECEIVED = "RECEIVED"        # an SMS is there (code/text filled)
    CANCELED = "CANCELED"        # canceled or timed out at the partner
    FINISHED = "FINISHED"


@dataclass(frozen=True)
class PartnerOffer:
    """Price and stock of one (service, country, operator) at one partner, in the partner's currency minor units."""

    service: str
    country: int
    operator: str
    cost_minor: int
    currency: str
    count: int
    # For an "any" offer: the operators the partner can be asked for in the country (its getOperators), or
    # () when the partner does not say, in which case any operator name is passed on to it.
    operators: tuple[str, ...] = ()
    # The partner's own name for the service (its getServicesList, a 5sim product word): untrusted, cleaned and
    # shown only for a service our curated list lacks.
    service_name: str | None = None


@dataclass(frozen=True)
class PartnerNumber:
    partner_activation_id: str
    phone: str  # digits only
    cost_minor: int | None = None


@dataclass(frozen=True)
class PartnerSms:
    text: str
    code: str | None
    received_at: str | None = None  # ISO-8601 UTC when the partner says


@dataclass(frozen=True)
class PartnerActivationState:
    partner_activation_id: str
    status: PartnerStatus
    sms: Sequence[PartnerSms] = field(default_factory=tuple)


class PartnerNoNumbers(Exception):
    """The partner has no number for the request right now (NO_NUMBERS): try the next partner."""


class PartnerUnavailable(Exception):
    """Timeout, connection error, 5xx, garbage reply, or an open circuit: try the next partner."""


class PartnerRejected(Exception):
    """The partner refused the request for a reason that another attempt will not fix (bad key, bad service)."""


class Partner(Protocol):
    name: str

    def get_offers(self) -> list[PartnerOffer]:
        """All prices and stock the partner publishes."""

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        """Rent a number. Raises PartnerNoNumbers / PartnerUnavailable / PartnerRejected."""

    def get_state(self, partner_activation_id: str) -> PartnerActivationState:
        """State of one activation (the on-demand path)."""

    def get_active_states(self) -> list[PartnerActivationState]:
        """States of all the partner's active activations in as few calls as the protocol allows (the poller)."""

    def cancel(self, partner_activation_id: str) -> None:
        """Cancel; idempotent: canceling an already-canceled activation is not an error."""

    def finish(self, partner_activation_id: str) -> None:
        """Finish (the code was used); idempotent."""

    def request_another_sms(self, partner_activation_id: str) -> None:
        """Ask for another SMS on the same number (free)."""

    def get_balance_minor(self) -> int:
        """Our balance at the partner, in its currency minor units."""


@runtime_checkable
class Reactivating(Protocol):
    """A partner that sells another activation on a number it issued before (SMS-Activate's extra activation, 5sim's
    reuse). Partners without it are skipped for reactivations: isinstance(partner, Reactivating)."""

    def reactivation_cost_minor(self, partner_activation_id: str, phone: str, service: str) -> int | None:
        """What another activation on the number costs, in the partner's minor units; None when the partner quotes
        no price for it (its listed price for the service applies). PartnerRejected when the number cannot be had."""

    def reactivate(self, partner_activation_id: str, phone: str, service: str, max_cost_minor: int) -> PartnerNumber:
        """A new activation on the same number. Raises PartnerNoNumbers / PartnerUnavailable / PartnerRejected."""


@runtime_checkable
class MultiServicing(Protocol):
    """A partner that sells one number for several services at once (SMS-Activate's getMultiServiceNumber)."""

    def get_multi_service_number(self, services: Sequence[str], country: int, operator: str | None
                                 ) -> dict[str, PartnerNumber]:
        """One number, an activation for each service (keyed by service; the partner may fill fewer than asked).
        Raises PartnerNoNumbers / PartnerUnavailable / PartnerRejected."""
