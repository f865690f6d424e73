"""Importing this module registers every table's model (see store.base)."""
from chalicelib.store import accounts, ledger, runtime  # noqa: F401
