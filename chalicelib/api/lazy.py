"""Service modules a route module names at its top but loads on first use, so a cold start loads only what its
first request needs (a Lambda container that only ever serves orders never loads payments or sign-in).

    if TYPE_CHECKING:
        from chalicelib.services.money import payments
    else:
        payments = lazy_module("chalicelib.services.money.payments")

The type checker sees the real import; at run time the module is imported when one of its names is first read
(importlib's LazyLoader), with the same module object in sys.modules as an ordinary import.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
