"""A cold API container loads what its route table needs and nothing else: importing app.py registers every route,
schedule and middleware, and leaves every service, every store model, PynamoDB and botocore unloaded; the first
request that passes authentication, the rate limit or an order loads them (api/lazy.py, store/binding.py).
Of the domain, only the rules a REST order uses anyway are loaded; another route's rules (payments, rentals, CSV,
push signatures) and protocol helpers (the handler protocol, 5sim hosting, account views) wait for their request,
and Powertools for the first log line or metric (an order writes neither)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from infra.template import ROOT

_LOADED_BY_IMPORT = r'''
import json, sys
import app
def loaded(prefix):
    return sorted(name for name, module in sys.modules.items()
                  if name.startswith(prefix) and type(module).__name__ != "_LazyModule"
                  and getattr(module, "__file__", "").endswith(".py") and not module.__file__.endswith("__init__.py"))
print(json.dumps({"services": loaded("chalicelib.services."), "store": loaded("chalicelib.store."),
                  "providers": loaded("chalicelib.providers."), "libraries": loaded("pynamodb.") + loaded("botocore.")
                  + loaded("boto3.") + loaded("requests.") + loaded("stripe.") + loaded("aws_lambda_powertools."),
                  "domain": loaded("chalicelib.domain."),
                  "api_helpers": [name for name in loaded("chalicelib.api.") if not hasattr(sys.modules[name], "bp")],
                  "routes": len(app.app.routes), "schedules": len(app.app.event_sources)}))
'''

# The domain modules a REST order (POST /v1/activations) loads whatever app.py imports: its own rules and those of
# the services it calls. Any other domain module a route module needs is loaded by that route's first request.
_ORDER_DOMAIN = {"accounts", "activation", "activation_state", "activation_status", "catalog_data", "clock", "errors",
                 "ids", "money", "partner_codes", "public_address", "refund_policy", "scopes", "webhook_events"}
# What every request passes through before its route: the middleware and the route kit with its field parsers.
_REQUEST_MACHINERY = {"errors", "fields", "kit", "lazy", "middleware", "settings_gate"}


def _loaded_by_import() -> dict:
    # A fresh interpreter, as a cold Lambda container, imports the API module
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_IMPORT], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_app__loads_the_route_table_and_no_service_store_or_sdk():
    # Given a fresh interpreter, as a cold Lambda container
    # When it imports the API module
    loaded = _loaded_by_import()
    # Then every route and schedule is registered
    assert loaded["routes"] > 50 and loaded["schedules"] > 5
    # And nothing a request does is loaded yet: no service, no model but the binding, no partner, no SDK
    assert loaded["services"] == []
    assert loaded["store"] == ["chalicelib.store.binding"]
    assert loaded["providers"] == []
    assert loaded["libraries"] == []
    # And of the domain only what an order uses anyway; of the API the route modules and the request machinery
    assert _beyond(loaded["domain"], "chalicelib.domain", _ORDER_DOMAIN) == []
    assert _beyond(loaded["api_helpers"], "chalicelib.api", _REQUEST_MACHINERY) == []


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


def test_activations_facade__built_for_an_order_loads_no_sms_intake_batches_reactivation_or_webhook_delivery():
    # Given a fresh interpreter, as a cold Lambda container whose first request is an order
    # When it builds the activations facade and loads the order's path (ordering, lifecycle, the wallet)
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_THE_ORDER_PATH], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    # Then what an order never uses waits for its first use: SMS intake and live updates, bulk orders,
    # reactivation, delivery of users' webhooks and their settings, and the accounts' registration
    assert "chalicelib.services.activations.ordering" in loaded
    assert loaded.isdisjoint({
        "chalicelib.services.activations.sms_intake", "chalicelib.services.platform.live_updates",
        "chalicelib.services.activations.batch_ordering", "chalicelib.services.activations.reactivation",
        "chalicelib.services.platform.user_webhooks", "chalicelib.services.platform.webhook_outbox",
        "chalicelib.services.accounts.webhook_settings", "chalicelib.services.accounts.registration",
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
