"""A cold API container loads what its route table needs and nothing else: importing app.py registers every route,
schedule and middleware, and leaves every service, every store model, PynamoDB and botocore unloaded; the first
request that passes authentication, the rate limit or an order loads them (api/lazy.py, store/binding.py)."""
from __future__ import annotations

import json
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
                  + loaded("boto3.") + loaded("requests.") + loaded("stripe."),
                  "routes": len(app.app.routes), "schedules": len(app.app.event_sources)}))
'''


def test_import_app__loads_the_route_table_and_no_service_store_or_sdk():
    # Given a fresh interpreter, as a cold Lambda container
    # When it imports the API module
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_IMPORT], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    # Then every route and schedule is registered
    assert loaded["routes"] > 50 and loaded["schedules"] > 5
    # And nothing a request does is loaded yet: no service, no model but the binding, no partner, no SDK
    assert loaded["services"] == []
    assert loaded["store"] == ["chalicelib.store.binding"]
    assert loaded["providers"] == []
    assert loaded["libraries"] == []
