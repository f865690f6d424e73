"""The dashboard under API Gateway's stage prefix: the page and every file it names load from `/api/`, not `/`."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

import app as app_module

DEPLOYED_PAGE = "https://abc123.execute-api.us-east-1.amazonaws.com/api/"


def api_gateway_event(resource: str, path: str, browser_path: str, params: dict[str, str] | None = None,
                      stage: str = "api") -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it: `path` without the stage, requestContext.path with it."""
    return {
        "resource": resource, "path": path, "httpMethod": "GET",
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "Accept": "*/*"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"], "Accept": ["*/*"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": params, "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": "GET", "path": browser_path, "stage": stage,
                           "requestId": "req-1", "identity": {"sourceIp": "203.0.113.9"},
                           "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "apiId": "abc123"},
    }


class LambdaContext:
    aws_request_id = "req-1"
    function_name = "sms-rooms-dev"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sms-rooms-dev"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28_000


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return app_module.app(event, LambdaContext())  # type: ignore[no-any-return]


def browser_get(url: str) -> dict[str, Any]:
    """What API Gateway's `api` stage makes of a browser's GET of `url`: the route the app serves, or 403."""
    path = urlsplit(url).path
    if not path.startswith("/api/") and path != "/api":
        return {"statusCode": 403, "body": '{"message":"Missing Authentication Token"}', "headers": {}}
    inner = path.removeprefix("/api") or "/"
    if inner == "/":
        return invoke(api_gateway_event("/", "/", path))
    name = inner.removeprefix("/static/")
    return invoke(api_gateway_event("/static/{name}", inner, path, {"name": name}))


def test_index__under_the_stage_prefix_every_file_it_names_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the deployed page, as API Gateway serves it at https://<id>.execute-api.<region>.amazonaws.com/api/
    page = browser_get(DEPLOYED_PAGE)
    assert page["statusCode"] == 200
    # When the browser follows each file the page names, resolved against the page's own URL
    names = re.findall(r'(?:src|href)="([^"#][^"]*)"', page["body"])
    answers = {name: browser_get(urljoin(DEPLOYED_PAGE, name))["statusCode"] for name in names}
    # Then each is served from under /api/, none 403s
    assert set(names) >= {"static/app.js", "static/styles.css", "static/favicon.svg"}
    assert set(answers.values()) == {200}, answers


def test_static_module__every_script_the_app_imports_loads_under_the_prefix() -> None:
    # Given app.js served under /api/static/
    app_js = urljoin(DEPLOYED_PAGE, "static/app.js")
    seen, todo = set(), [app_js]
    while todo:
        url = todo.pop()
        seen.add(url)
        reply = browser_get(url)
        # Then it and every module it imports (relative to it) is served
        assert reply["statusCode"] == 200, url
        todo += [u for u in (urljoin(url, m) for m in re.findall(r'from "(\./[^"]+)"', reply["body"]))
                 if u not in seen]
    assert len(seen) > 5


def test_index__the_stage_url_without_its_slash_redirects_to_the_page() -> None:
    # When the browser asks for https://<id>.execute-api…/api (the URL a deploy prints, slash forgotten)
    reply = browser_get(DEPLOYED_PAGE.rstrip("/"))
    # Then it is sent to /api/, where the page's relative URLs resolve under the stage
    assert (reply["statusCode"], reply["headers"]["Location"]) == (308, "/api/")


@pytest.mark.parametrize("browser_path", ["/", "//evil.example", "/api/"])
def test_index__served_as_is_at_the_root_and_never_redirected_off_site(browser_path: str) -> None:
    # When the page is asked for at the local root, a doubled slash, or the stage with its slash
    reply = invoke(api_gateway_event("/", "/", browser_path))
    # Then the page itself is served
    assert reply["statusCode"] == 200
    assert "Location" not in reply["headers"]


def test_service_root__the_scripts_call_the_api_relative_to_the_service_root() -> None:
    # Given the scripts the page loads
    from chalicelib.api.web import WEB_DIR

    scripts = {p.name: p.read_text() for p in WEB_DIR.glob("*.js")}
    # Then the only network call goes through serviceUrl, and no script names a root-absolute /static/ or /stubs/ URL
    fetches = [name for name, text in scripts.items() if re.search(r"fetch\((?!serviceUrl\()", text)]
    absolute = [name for name, text in scripts.items() if re.search(r"[\"'`]/(?:static|stubs)/", text)]
    assert (fetches, absolute) == ([], [])
