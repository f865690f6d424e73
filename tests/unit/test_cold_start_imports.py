"""A cold API container loads no service its first request does not need: importing app.py leaves every service
module but authentication, the rate limit and the runtime settings (which every request passes) unloaded."""
from __future__ import annotations

import json
import subprocess
import sys

from infra.template import ROOT

_LOADED_BY_IMPORT = r'''
import json, sys
import app
loaded = sorted(name for name, module in sys.modules.items()
                if name.startswith("chalicelib.services.") and type(module).__name__ != "_LazyModule"
                and getattr(module, "__file__", "").endswith(".py") and not module.__file__.endswith("__init__.py"))
print(json.dumps(loaded))
'''


def test_import_app__loads_only_the_services_every_request_passes():
    # Given a fresh interpreter, as a cold Lambda container
    # When it imports the API module
    out = subprocess.run([sys.executable, "-c", _LOADED_BY_IMPORT], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    # Then only the request path's own services are loaded; orders, payments, sign-in, rentals wait for first use
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        "chalicelib.services.accounts.authn", "chalicelib.services.platform.rate_limit",
        "chalicelib.services.platform.runtime_settings"]
