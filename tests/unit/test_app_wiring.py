"""The deployed wiring: every Lambda handler Chalice will point at exists in the app module."""
from __future__ import annotations

import app as app_module


def test_schedules__every_deployed_handler_string_resolves_in_app_module():
    # Given the app with its schedules registered
    handlers = [e.handler_string for e in app_module.app.event_sources]
    # Then each handler string names an attribute of app.py that Lambda can call
    assert handlers, "no scheduled jobs registered"
    for handler in handlers:
        module, _, name = handler.partition(".")
        assert module == "app"
        assert callable(getattr(app_module, name)), handler


def test_admin_lambda__handler_string_resolves_in_app_module():
    functions = {f.name: f.handler_string for f in app_module.app.pure_lambda_functions}
    assert functions["admin"] == "app.admin"
    assert callable(app_module.admin)
