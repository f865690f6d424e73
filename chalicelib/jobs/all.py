"""Importing this module registers every scheduled job."""
from chalicelib.jobs import activations, mail, reconcile, rentals  # noqa: F401
