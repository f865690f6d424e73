"""Importing this module registers every table's model (see store.base)."""
from chalicelib.store import (  # noqa: F401
    accounts,
    activations,
    agreements,
    catalog,
    ledger,
    live,
    mail,
    payments,
    rate_limit,
    rentals,
    routing,
    runtime,
    support,
)
