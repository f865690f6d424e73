"""Rentals: numbers held for hours to weeks that receive every SMS (issue 17 item 2).

pricing (partners' rent prices with our markup), book (every write, with its money), inbox (SMS in, webhooks out),
upkeep (the scheduled job's work), service (the facade the adapters call; built by chalicelib/wiring.py).
"""
from __future__ import annotations
