"""Importing this module registers every scheduled job."""
from chalicelib.jobs import activations, reconcile  # noqa: F401
