"""What benchmarks run against: one local stack on free ports, started as needed and reused, models bound to it."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.registry import Needs
from chalicelib.config import Settings, settings_from_env
from chalicelib.services.platform import runtime_settings
from chalicelib.store.base import bind_models
from infra.local.stack import Ports, Stack

# Throughput is measured, not the rate limiter; the other timers are the deployed defaults.
BENCH_ENV = {"RATE_LIMIT_PER_SECOND": "100000", "RATE_LIMIT_BURST": "100000"}


class BenchContext:
    def __init__(self) -> None:
        self._stack: Stack | None = None
        self._needs = Needs.NOTHING
        self._data_dir: Path | None = None

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            raise RuntimeError("this benchmark did not declare that it needs the stack")
        return self._stack

    @property
    def settings(self) -> Settings:
        return settings_from_env(self.stack.env())

    def ensure(self, needs: Needs) -> None:
        """Have at least `needs` running: start the stack, or restart it with more parts."""
        if needs == Needs.NOTHING or (self._stack is not None and self._needs >= needs):
            return
        self.stop()
        self._data_dir = Path(tempfile.mkdtemp(prefix="smsrooms-bench-"))
        stack = Stack(ports=Ports.free(), data_dir=self._data_dir, in_memory=True, with_app=needs >= Needs.APP,
                      with_scheduler=needs >= Needs.SCHEDULER, extra_env=dict(BENCH_ENV))
        stack.start()
        self._stack, self._needs = stack, needs
        bind_models(self.settings)
        runtime_settings.clear_cache()

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.stop()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        self._stack, self._needs, self._data_dir = None, Needs.NOTHING, None
