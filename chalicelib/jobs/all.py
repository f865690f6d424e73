"""Importing this module registers every scheduled job."""
