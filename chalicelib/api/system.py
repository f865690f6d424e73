"""Routes anyone may call: health, the agreement and the OpenAPI document of REST v1."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.kit import RestRoutes
from chalicelib.config import get_settings

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"


@v1.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok"}


@v1.route("/v1/agreement", methods=["GET"])
def current_agreement() -> dict[str, Any]:
    from chalicelib.services.accounts import agreement as agreements  # on first use: not every cold start serves it

    current = agreements.agreement(get_settings().agreement_version)
    return {"version": current.version, "text": current.text, "versions": agreements.versions()}


@v1.route("/v1/agreement/{version}", methods=["GET"])
def agreement_version(version: str) -> dict[str, Any]:
    from chalicelib.services.accounts import agreement as agreements

    found = agreements.agreement(version)
    return {"version": found.version, "text": found.text}


@v1.route("/v1/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    return Response(body=_openapi_text(), status_code=200, headers={"Content-Type": "application/json"})


@functools.cache
def _openapi_text() -> str:
    # Read on first request, not at import: most cold starts never serve the document.
    return OPENAPI_PATH.read_text(encoding="utf-8")
