"""Routes anyone may call: health, the agreement and the OpenAPI document of REST v1."""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.kit import RestRoutes
from chalicelib.config import get_settings

bp = Blueprint(__name__)
v1 = RestRoutes(bp)

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"
_VERSION = re.compile(r"[0-9]{1,9}")  # ASCII digits: '٣'.isdigit() is true, and a header must stay ASCII


@v1.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok"}


@v1.route("/v1/agreement", methods=["GET"])
def current_agreement() -> dict[str, Any]:
    """The version in force (13.2), every version's number, and the next one when it is published and waiting."""
    versions = _agreements()
    listed = versions.all()
    current, newest = versions.in_force(listed), versions.newest(listed)
    return {**versions.page(current.version), "versions": [v.version for v in listed],
            "upcoming": newest.as_json() if newest.version != current.version else None}


@v1.route("/v1/agreement/{version}", methods=["GET"])
def agreement_version(version: str) -> dict[str, Any]:
    """Any version ever published, with its headings and what changed since the one before."""
    return _agreements().page(version)


@bp.route("/agreement/{version}", methods=["GET"])
def agreement_link(version: str) -> Response:
    """The address emails give (`/agreement/2`): the dashboard's page of that version, which works signed out.
    Relative, so it stays under the stage's base path (`/api/`) when deployed."""
    target = f"../#/agreement/{version}" if _VERSION.fullmatch(version) else "../#/agreement"
    return Response(body="", status_code=302, headers={"Location": target})


def _agreements() -> Any:
    from chalicelib.services.accounts.agreement_versions import AgreementVersions  # on first use: not every cold start
    return AgreementVersions(get_settings().agreement_version, wiring.clock())


@v1.route("/v1/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    return Response(body=_openapi_text(), status_code=200, headers={"Content-Type": "application/json"})


@functools.cache
def _openapi_text() -> str:
    # Read on first request, not at import: most cold starts never serve the document.
    return OPENAPI_PATH.read_text(encoding="utf-8")
