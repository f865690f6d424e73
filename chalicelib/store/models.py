"""Importing this module registers every table's model (see store.base)."""
from chalicelib.store import accounts, activations, catalog, ledger, payments, rate_limit, runtime, support  # noqa: F401
