"""Routes anyone may call: health and the agreement."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.kit import RestRoutes
from chalicelib.config import get_settings
from chalicelib.services import agreement as agreements

bp = Blueprint(__name__)
v1 = RestRoutes(bp)


@v1.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok"}


@v1.route("/v1/agreement", methods=["GET"])
def current_agreement() -> dict[str, Any]:
    current = agreements.agreement(get_settings().agreement_version)
    return {"version": current.version, "text": current.text, "versions": agreements.versions()}


@v1.route("/v1/agreement/{version}", methods=["GET"])
def agreement_version(version: str) -> dict[str, Any]:
    found = agreements.agreement(version)
    return {"version": found.version, "text": found.text}
