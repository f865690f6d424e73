"""Importing this module registers every scheduled job."""
from chalicelib.jobs import activations, live, mail, reconcile, rentals  # noqa: F401
