"""The web dashboard: `GET /` serves the single-page app, `GET /static/{name}` its files, under any base path."""
from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from chalice import Blueprint, Response

from chalicelib.api.errors import error_body
from chalicelib.config import get_settings
from chalicelib.domain.public_address import origin_of

bp = Blueprint(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# A flat folder of lower-case names: nothing a request says can reach outside it.
_ASSET_NAME = re.compile(r"[a-z0-9_-]{1,64}\.(?:js|css|svg)")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The files carry no content hash in their names, so browsers revalidate every time; the ETag keeps that cheap.
_CACHE_CONTROL = "no-cache"


class Asset(NamedTuple):  # not a dataclass: defining one costs every cold start ~0.5 ms
    body: str
    content_type: str
    etag: str


# A path as the browser sent it, of whole segments: nothing a redirect built from it could send elsewhere.
_BROWSER_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")


@bp.route("/", methods=["GET"])
def index() -> Response:
    """The page, whose files and calls are relative to its own URL: `/` locally, `/api/` on API Gateway's stage.

    Only `…/api` without its final slash needs the server: relative URLs would resolve one folder too high.
    """
    browser_path = _browser_path()
    if _BROWSER_PATH.fullmatch(browser_path):
        return Response(body="", status_code=308, headers={"Location": browser_path + "/", **_security_headers()})
    return _serve(_asset("index.html"))


def _browser_path() -> str:
    # API Gateway's event.path is `/` here; requestContext.path is what the browser asked for, with the stage
    # (`/api/`) or a custom domain's base path.
    path = (bp.current_request.context or {}).get("path")
    return path if isinstance(path, str) else "/"


@bp.route("/static/{name}", methods=["GET"])
def static_file(name: str) -> Response:
    if not _ASSET_NAME.fullmatch(name) or not (WEB_DIR / name).is_file():
        return Response(body=error_body("NOT_FOUND", f"There is no file '{name}'."), status_code=404,
                        headers={"Content-Type": "application/json"})
    return _serve(_asset(name))


@functools.cache
def _asset(name: str) -> Asset:
    body = (WEB_DIR / name).read_text(encoding="utf-8")
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    return Asset(body=body, content_type=_CONTENT_TYPES[Path(name).suffix], etag=etag)


Headers = dict[str, str | list[str]]


def _serve(asset: Asset) -> Response:
    headers: Headers = {"Content-Type": asset.content_type, "Cache-Control": _CACHE_CONTROL, "ETag": asset.etag,
                        **_security_headers()}
    if asset.etag in _if_none_match():
        return Response(body="", status_code=304, headers=headers)
    return Response(body=asset.body, status_code=200, headers=headers)


def _if_none_match() -> list[str]:
    headers: Mapping[str, str] = bp.current_request.headers or {}
    return [tag.strip().removeprefix("W/") for tag in str(headers.get("if-none-match") or "").split(",")]


@functools.cache
def _security_headers() -> dict[str, str]:
    stripe = " ".join(stripe_origins(get_settings().stripe_js_url, get_settings().stripe_api_base))
    live_origin = origin_of(get_settings().live_url or "")  # the live-updates WebSocket
    live = f" {live_origin}" if live_origin else ""
    policy = "; ".join([
        "default-src 'self'",
        f"script-src 'self' {stripe}",
        f"connect-src 'self' {stripe}{live}",
        f"frame-src {stripe}",
        "img-src 'self' data:",
        "style-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def stripe_origins(stripe_js_url: str, stripe_api_base: str | None) -> list[str]:
    """Origins Stripe.js needs: where it loads from, and where it talks to (the API, 3-D Secure frames)."""
    origins = [origin_of(stripe_js_url), origin_of(stripe_api_base) if stripe_api_base else None]
    if not stripe_api_base:
        origins += ["https://api.stripe.com", "https://hooks.stripe.com"]
    return list(dict.fromkeys(o for o in origins if o))
