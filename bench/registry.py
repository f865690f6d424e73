"""Benchmarks declare themselves with `@benchmark`; every module of this package is discovered, so a new area adds rows
by dropping a `bench/<area>.py` in.
"""
from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.context import BenchContext
    from bench.report import Table


class Needs(enum.IntEnum):
    """What a benchmark needs running; the runner starts the least it can and reuses it across benchmarks."""

    NOTHING = 0
    DYNAMODB = 1  # DynamoDB Local (with localstripe and the partner simulator), models bound in this process
    APP = 2  # plus the app over HTTP
    SCHEDULER = 3  # plus the local scheduler running the jobs


Run = Callable[["BenchContext"], "Table"]


@dataclass(frozen=True)
class Benchmark:
    name: str  # short id for `python -m bench --only NAME`
    order: int  # position in the printed report
    needs: Needs
    run: Run


_BENCHMARKS: list[Benchmark] = []


def benchmark(name: str, *, order: int, needs: Needs = Needs.NOTHING) -> Callable[[Run], Run]:
    def register(fn: Run) -> Run:
        _BENCHMARKS.append(Benchmark(name=name, order=order, needs=needs, run=fn))
        return fn

    return register


def discover() -> list[Benchmark]:
    """Import every module of the package (helpers register nothing); returns the benchmarks in report order."""
    import bench

    for module in pkgutil.iter_modules(bench.__path__):
        if module.name != "__main__":
            importlib.import_module(f"bench.{module.name}")
    return sorted(_BENCHMARKS, key=lambda b: b.order)
