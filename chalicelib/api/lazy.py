"""Modules a route module names at its top but loads on first use (services, and the domain rules or protocol
helpers only some of its routes use), so a cold start loads only what its first request needs (a Lambda container
that only ever serves orders never loads payments, rentals, the handler protocol or sign-in).

    if TYPE_CHECKING:
        from chalicelib.services.money import payments
    else:
        payments = lazy_module("chalicelib.services.money.payments")

The type checker sees the real import; at run time the module is imported when one of its names is first read,
by an ordinary import (under the import system's locks: requests arriving together on a cold container each get
the whole module, never one half run; importlib's LazyLoader gave them that in Python 3.11), and every read is
then passed to that module, kept from the first read on.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


class _OnFirstUse(ModuleType):
    """Stands for a module until a name of it is read; then imports it and reads the name from it."""

    def __getattr__(self, attr: str) -> Any:
        module = self.__dict__.get("_loaded")
        if module is None:  # import_module returns only a module whose body has run to its end
            module = self.__dict__["_loaded"] = importlib.import_module(self.__name__)
        return getattr(module, attr)


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(name)
    return _OnFirstUse(name)
