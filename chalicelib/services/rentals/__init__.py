"""Rentals: numbers held for hours to weeks that receive every SMS (issue 17 item 2).

pricing (partners' rent prices with our markup), book (every write, with its money), inbox (SMS in, webhooks out),
upkeep (the scheduled job's work), service (the facade the adapters call).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.config import get_settings, rebuilt_with_settings

if TYPE_CHECKING:
    from chalicelib.services.rentals.service import Rentals


@rebuilt_with_settings
def rentals() -> Rentals:
    """The process's rentals over the configured partners, sharing the activations' wallet and webhooks."""
    from chalicelib.providers import registry
    from chalicelib.services.activations.facade import activations
    from chalicelib.services.platform import container
    from chalicelib.services.rentals.service import Rentals

    shared = activations()
    return Rentals(get_settings(), registry.partners(), container.clock(), wallet=shared.ordering.wallet,
                   webhooks=shared.webhooks)
