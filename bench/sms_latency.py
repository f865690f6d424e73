"""SMS latency: from the partner having an SMS (the simulator's `/_sim/deliver`) to GET /v1/activations/{id} showing
it, for each of the three paths: the partner's push, the on-demand refresh of a status read, and the poll job.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import requests

import chalicelib.jobs.all  # noqa: F401  (registers the jobs, to report the poller's cadence)
from bench.activations import COUNTRY, SERVICE, activations_service, fresh_simulator
from bench.arrange import api_key_for, funded_account
from bench.context import BenchContext
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.simulator import SimulatorControl
from bench.stats import ms, percentile
from chalicelib.jobs.registry import JOBS
from chalicelib.store.activations import Activation
from infra.template import stage_settings

SAMPLES = 5
WATCH_EVERY_SECONDS = 0.02
GIVE_UP_SECONDS = 30.0


class Watcher:
    """A user's client: orders over HTTP and reads the activation until the SMS shows."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_key}"

    def order(self) -> dict[str, object]:
        reply = self.http.post(f"{self.base_url}/v1/activations", json={"service": SERVICE, "country": COUNTRY},
                               timeout=60)
        reply.raise_for_status()
        return dict(reply.json())

    def seconds_until_sms(self, activation_id: object, started: float) -> float:
        while time.perf_counter() - started < GIVE_UP_SECONDS:
            body = self.http.get(f"{self.base_url}/v1/activations/{activation_id}", timeout=60).json()
            if body.get("sms"):
                return time.perf_counter() - started
            time.sleep(WATCH_EVERY_SECONDS)
        raise TimeoutError(f"no SMS on activation {activation_id} after {GIVE_UP_SECONDS:.0f} s")


def _sample(watcher: Watcher, sim: SimulatorControl, before_delivery: Callable[[], None]) -> tuple[float, str]:
    activation = watcher.order()
    before_delivery()
    started = time.perf_counter()
    sim.deliver(str(activation["phone"]), f"Your Telegram code is {int(str(activation['id'])) % 90000 + 10000}")
    seconds = watcher.seconds_until_sms(activation["id"], started)
    stored = Activation.get(int(str(activation["id"])), consistent_read=True)
    return seconds, str(stored.sms[0].source)


@benchmark("sms-latency", order=60, needs=Needs.SCHEDULER)
def sms_latency(ctx: BenchContext) -> Table:
    settings = ctx.settings
    sim = fresh_simulator(ctx)
    activations_service(settings).refresh_prices()
    account = funded_account(settings, 1_000_000)
    watcher = Watcher(ctx.stack.app_url, api_key_for(settings, account.account_id))
    partner = settings.partners[0].name
    refresh_wait = settings.status_refresh_min_seconds + 0.2
    paths: list[tuple[str, dict[str, object], Callable[[], None]]] = [
        ("push (partner webhook)",
         {"push_url": f"{ctx.stack.app_url}/v1/partners/{partner}/push",
          "push_secret": settings.partners[0].push_secret},
         lambda: None),
        ("on-demand (first status read once a refresh is due)", {"push_url": ""}, lambda: time.sleep(refresh_wait)),
        ("poll (scheduled job)", {"push_url": ""}, lambda: None),
    ]
    table = Table(f"SMS latency: partner has the SMS → GET /v1/activations/{{id}} shows it ({SAMPLES} each)",
                  ["path", "p50 ms", "max ms", "delivered by"],
                  goal="push and on-demand within a second; poll bounded by its cadence")
    for label, sim_config, before_delivery in paths:
        sim.configure(**sim_config)
        samples = [_sample(watcher, sim, before_delivery) for _ in range(SAMPLES)]
        seconds = [s for s, _ in samples]
        sources = Counter(source for _, source in samples)
        table.add(label, ms(percentile(seconds, 50)), ms(max(seconds)),
                  ", ".join(f"{source} {count}" for source, count in sources.most_common()))
    poller = next(j for j in JOBS if j.name == "poll_partners")
    deployed = stage_settings("prod")
    table.notes += [
        f"the client reads every {WATCH_EVERY_SECONDS * 1000:.0f} ms; a status read asks the partner at most every "
        f"{settings.status_refresh_min_seconds} s per activation, so a reader may wait that long more than the "
        "on-demand row shows (it delivers once a refresh is due)",
        f"the poll job runs every {poller.local_every_seconds:g} s locally; deployed, EventBridge starts it every "
        f"{poller.rate_minutes} min and each run polls every {deployed.poll_every_seconds:g} s for "
        f"{deployed.poll_sweep_seconds:g} s while a number waits, so a poll-only SMS waits about "
        f"{deployed.poll_every_seconds:g} s (up to {60 - deployed.poll_sweep_seconds:g} s more in the gap "
        "between runs)",
    ]
    return table
