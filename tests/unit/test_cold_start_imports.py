"""A cold API container loads what its route table needs and nothing else: importing app.py registers every route,
schedule and middleware and builds the DynamoDB client (when that needs no network: chalicelib/startup.py), and
leaves every service, every store model and every partner unloaded; the first request that passes authentication,
the rate limit or an order loads them (api/lazy.py, store/binding.py).
Of the domain, only the rules a REST order uses anyway are loaded; another route's rules (payments, rentals, CSV,
push signatures) and protocol helpers (the handler protocol, 5sim hosting, account views) wait for their request,
and Powertools for the first log line or metric (an order writes neither)."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

from infra.template import ROOT

_LOADED_BY_IMPORT = r'''
import gc, json, sys
collections = []  # the collector's runs until the start froze what it made
gc.callbacks.append(lambda phase, info: collections.append(info) if phase == "start" and not gc.get_freeze_count()
                    else None)
import app
base = sys.modules.get("chalicelib.store.base")
def loaded(prefix):
    return sorted(name for name, module in sys.modules.items()
                  if name.startswith(prefix) and type(module).__name__ != "_LazyModule"
                  and getattr(module, "__file__", "").endswith(".py") and not module.__file__.endswith("__init__.py"))
print(json.dumps({"services": loaded("chalicelib.services."), "store": loaded("chalicelib.store."),
                  "providers": loaded("chalicelib.providers."), "libraries": loaded("pynamodb.") + loaded("botocore.")
                  + loaded("boto3.") + loaded("requests.") + loaded("stripe.") + loaded("aws_lambda_powertools."),
                  "domain": loaded("chalicelib.domain."),
                  "api_helpers": [name for name in loaded("chalicelib.api.") if not hasattr(sys.modules[name], "bp")],
                  "routes": len(app.app.routes), "schedules": len(app.app.event_sources),
                  "client_built": bool(base and base.client_built()),
                  "collecting": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "collections_during_start": len(collections)}))
'''

# The domain modules a REST order (POST /v1/activations) loads whatever app.py imports: its own rules and those of
# the services it calls. Any other domain module a route module needs is loaded by that route's first request.
_ORDER_DOMAIN = {"accounts", "activation", "activation_state", "activation_status", "catalog_data", "clock", "errors",
                 "ids", "money", "partner_codes", "public_address", "refund_policy", "scopes", "webhook_events"}
# What every request passes through before its route: the middleware and the route kit with its field parsers.
_REQUEST_MACHINERY = {"errors", "fields", "kit", "lazy", "middleware", "settings_gate"}


def _loaded_by_import(env: dict[str, str]) -> dict:
    # A fresh interpreter, as a cold Lambda container, imports the API module
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_IMPORT], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "output": out.stdout}


def _deployed_env(**more: str) -> dict[str, str]:
    # A deployed stage's table binding (no endpoint: AWS's), and none of the test run's AWS settings
    kept = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "DYNAMODB_"))}
    return {**kept, "STAGE": "prod", "TABLE_PREFIX": "smsrooms-prod-", "AWS_REGION": "eu-west-1", **more}


def test_import_app__with_lambdas_credentials_builds_the_dynamodb_client_and_loads_no_service_model_or_partner():
    # Given a fresh interpreter, as a cold Lambda container: its credentials are in its environment
    env = _deployed_env(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="secret", AWS_SESSION_TOKEN="token",
                        AWS_LAMBDA_FUNCTION_NAME="sms-rooms-prod-APIHandler")
    # When it imports the API module
    loaded = _loaded_by_import(env)
    # Then every route and schedule is registered
    assert loaded["routes"] > 50 and loaded["schedules"] > 5
    # And the DynamoDB client the first request needs is built (AWS's advice: clients outside the handler)
    assert loaded["client_built"] is True
    assert "botocore.client" in loaded["libraries"]
    # And nothing else a request does is loaded yet: no service, no model, no partner, no other SDK
    assert loaded["services"] == []
    assert loaded["store"] == ["chalicelib.store.base", "chalicelib.store.binding"]
    assert loaded["providers"] == []
    assert [name for name in loaded["libraries"] if not name.startswith(("botocore.", "pynamodb."))] == []
    # And of the domain only what an order uses anyway; of the API the route modules and the request machinery
    assert _beyond(loaded["domain"], "chalicelib.domain", _ORDER_DOMAIN) == []
    assert _beyond(loaded["api_helpers"], "chalicelib.api", _REQUEST_MACHINERY) == []
    # And the garbage collector did not run while the container started (about 130 times without the pause), and
    # collects again now, the start's objects frozen out of its way
    assert loaded["collections_during_start"] < 3
    assert loaded["collecting"] is True and loaded["frozen"] > 10_000


def test_import_app__without_credentials_at_hand_builds_no_client_and_loads_no_sdk():
    # Given a fresh interpreter with no credentials in its environment (`chalice package` offline): building a
    # client would ask the instance metadata service for them
    # When it imports the API module
    loaded = _loaded_by_import(_deployed_env())
    # Then no client is built and no SDK is loaded: the first request builds it
    assert loaded["client_built"] is False
    assert loaded["store"] == ["chalicelib.store.binding"]
    assert loaded["libraries"] == []
    assert loaded["routes"] > 50
    # And the garbage collector collects again
    assert loaded["collecting"] is True


def test_import_app__with_an_endpoint_botocore_refuses_still_starts_and_collects_garbage():
    # Given a local stage whose DynamoDB endpoint is not a URL botocore takes
    env = {**_deployed_env(), "STAGE": "local", "DYNAMODB_ENDPOINT": "not a url"}
    # When a fresh interpreter imports the API module
    loaded = _loaded_by_import(env)
    # Then it starts, saying the client was not built (the first request meets the error and answers it), and the
    # collector is running again
    assert loaded["client_built"] is False
    assert loaded["routes"] > 50
    assert "DynamoDB client not built at start" in loaded["output"]
    assert loaded["collecting"] is True


def _beyond(modules: list[str], package: str, allowed: set[str]) -> list[str]:
    return sorted(set(modules) - {f"{package}.{name}" for name in allowed})


_LOADED_BY_PARTNER_CALLS = r'''
import json, sys
from chalicelib import wiring
from chalicelib.providers.base import PartnerUnavailable
for partner in wiring.partners():
    try:
        partner.get_number("tg", 0, None, None)
    except PartnerUnavailable:
        pass
print(json.dumps({"protocols": sorted(type(p).__name__ for p in wiring.partners()),
                  "loaded": sorted(name for name in sys.modules if name.split(".")[0] in
                                   ("requests", "charset_normalizer", "idna", "http.cookiejar", "netrc"))}))
'''


def test_partner_calls__load_no_http_library_botocore_has_not_loaded_already():
    # Given a fresh interpreter with a partner of every protocol configured (each at a port nobody answers)
    refused = "http://127.0.0.1:9/"
    partners = [{"name": "activate", "protocol": "sms-activate", "base_url": refused, "api_key": "k1"},
                {"name": "five", "protocol": "5sim", "base_url": refused, "api_key": "k2"},
                {"name": "bank", "protocol": "smshub_agent", "base_url": refused, "api_key": "k3", "prices": {"*": 40}}]
    env = {**os.environ, "STAGE": "local", "PARTNERS_JSON": json.dumps(partners)}
    # When the composition root builds them and each is asked for a number, as by a cold container's first order
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_PARTNER_CALLS], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    # Then every protocol's adapter was built and called over urllib3 alone: requests and what it brings stay unloaded
    assert loaded["protocols"] == ["FiveSimPartner", "SmsActivatePartner", "SmsHubAgentPartner"]
    assert loaded["loaded"] == []


_LOADED_BY_THE_ORDER_PATH = r'''
import json, sys
from chalicelib import wiring
from chalicelib.config import settings_from_env
from chalicelib.domain.clock import SystemClock
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
clock = SystemClock()
facade = wiring.build_activations(settings_from_env({"STAGE": "local"}), (), clock, Wallet(clock, DynamoMoneyStore()))
import chalicelib.services.activations.ordering, chalicelib.services.activations.lifecycle
print(json.dumps(sorted(name for name in sys.modules if name.startswith("chalicelib."))))
'''


def test_startup__is_imported_by_app_py_alone():
    # Importing chalicelib.startup pauses the garbage collector until app.py's last line resumes it: any other
    # importer would leave it paused
    importers = sorted(str(path.relative_to(ROOT)) for folder in ("chalicelib", "infra", "bin", "bench", "tests")
                       for path in (ROOT / folder).rglob("*.py")
                       if re.search(r"^\s*(from chalicelib import startup|import chalicelib\.startup|"
                                    r"from chalicelib\.startup import)", path.read_text(), re.M))
    assert importers == []
    # And app.py imports it before anything else (its docstring and `from __future__` apart)
    first = next(node for node in ast.parse((ROOT / "app.py").read_text()).body[1:]
                 if not (isinstance(node, ast.ImportFrom) and node.module == "__future__"))
    assert isinstance(first, ast.ImportFrom) and (first.module, [a.name for a in first.names]) == ("chalicelib",
                                                                                                    ["startup"])


def test_activations_facade__built_for_an_order_loads_no_sms_intake_batches_reactivation_webhooks_or_call_queue():
    # Given a fresh interpreter, as a cold Lambda container whose first request is an order
    # When it builds the activations facade and loads the order's path (ordering, lifecycle, the wallet)
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_THE_ORDER_PATH], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    # Then what an order never uses waits for its first use: SMS intake and live updates, bulk orders,
    # reactivation, delivery of users' webhooks and their settings, the accounts' registration, and the queue of
    # partner calls to make again (with the outbox under it)
    assert "chalicelib.services.activations.ordering" in loaded
    assert loaded.isdisjoint({
        "chalicelib.services.activations.sms_intake", "chalicelib.services.platform.live_updates",
        "chalicelib.services.activations.batch_ordering", "chalicelib.services.activations.reactivation",
        "chalicelib.services.platform.user_webhooks", "chalicelib.services.platform.webhook_outbox",
        "chalicelib.services.accounts.webhook_settings", "chalicelib.services.accounts.registration",
        "chalicelib.services.platform.partner_call_queue", "chalicelib.store.outbox_repo",
    }), sorted(loaded)


_FIRST_LINE = r'''
import contextlib, io, sys, types
import app
from chalicelib.api.middleware import log_context
log_context(types.SimpleNamespace(context={"requestId": "req-cold"}, path="/v1/activations"), lambda event: None)
print(sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools.")))
with contextlib.redirect_stdout(io.StringIO()) as redirected:  # as a test's capture or a tool's output would
    app.app.log.error("Caught exception for path %s", "/stubs/handler_api.php?api_key=smsr_" + "k" * 24)
print(f"redirected: {redirected.getvalue()!r}")
'''


def test_first_log_line__chalices_own_error_is_written_once_to_stdout_as_redacted_json_with_the_request_keys():
    # Given a fresh interpreter that imported the app and passed an event through the log context, writing nothing
    out = subprocess.run([sys.executable, "-c", _FIRST_LINE], cwd=ROOT, capture_output=True, text=True, check=True)
    powertools_before, *lines = out.stdout.strip().splitlines()
    assert powertools_before == "[]"
    # When Chalice logs an error (app.log: the service's logger) before any line of ours, stdout redirected then
    # Then it is written once to the process's stdout (as when Powertools loaded with the app), as Powertools'
    # JSON line, redacted, with the keys the event appended
    line, redirected = lines
    assert redirected == "redirected: ''"
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["message"].endswith("api_key=[redacted]")
    assert record["request_id"] == "req-cold" and record["cold_start"] is True
    assert "k" * 24 not in out.stdout + out.stderr
