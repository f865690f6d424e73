"""An activation as services and adapters see it: a plain value (the `activations` table's row stays in the store).

Field names are the row's attribute names, so adapters read either; the types are the domain's (an int for cents
and ids, a status enum), so no caller casts. Made by chalicelib/store/activation_repo.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.activation_status import ActivationStatus


@dataclass(frozen=True)
class ActivationSms:
    """One SMS an activation received."""

    text: str
    code: str | None
    received_at: float  # when we first saw it
    source: str  # how it reached us: push | on_demand | poll


@dataclass(frozen=True)
class Activation:
    activation_id: int
    account_id: str
    service: str
    country: int
    operator: str
    status: ActivationStatus
    price_cents: int  # what the user was charged
    created_at: float
    expires_at: float
    cost_cents: int | None = None  # what the winning partner charges us, in our cents
    phone: str | None = None
    partner: str | None = None
    partner_activation_id: str | None = None
    partner_ref: str | None = None
    active_key: str | None = None  # set while it can still change (the active index's key)
    sms: tuple[ActivationSms, ...] = ()
    has_sms: bool = False
    last_checked_at: float | None = None  # last on-demand question to the partner (its rate limit)
    idempotency_key: str | None = None
    reactivation_of: int | None = None
    version: int = 0  # bumped by every state change: the compare-and-set guard
    status_hook: bool | None = None  # its status changes are told to the owner's webhook
    hook_seq: int | None = None  # the version of the last event queued for it
    balance_hook: bool | None = None  # the webhook took balance.changed at order: its refund tells it
