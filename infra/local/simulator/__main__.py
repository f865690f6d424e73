"""Run the partner simulator: `python -m infra.local.simulator --port 8002 [--api-key K] [--sms-delay 3]`."""
from __future__ import annotations

import argparse
import os
import signal
import threading

from chalicelib.config import LOCAL_SIM_PUSH_SECRET
from infra.local.simulator.server import start_simulator


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.simulator",
                                     description="An upstream partner speaking the SMS-Activate handler protocol.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PARTNER_SIM_PORT", "8002")))
    parser.add_argument("--api-key", default="sim-key")
    parser.add_argument("--sms-delay", type=float, default=3.0, help="seconds from purchase to the SMS")
    parser.add_argument("--lifetime", type=float, default=1200.0, help="seconds an activation lives")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--push-url", default=None, help="POST every SMS here as signed JSON")
    parser.add_argument("--push-secret", default=LOCAL_SIM_PUSH_SECRET,
                        help="the partner's push_secret in PARTNERS_JSON (signs each push with a timestamp)")
    parser.add_argument("--seed", type=int, default=None, help="make numbers and codes repeatable")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    handle = start_simulator(args.port, host=args.host, seed=args.seed, verbose=args.verbose, api_key=args.api_key,
                             sms_delay_seconds=args.sms_delay, lifetime_seconds=args.lifetime, currency=args.currency,
                             push_url=args.push_url, push_secret=args.push_secret)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    print(f"partner simulator on {handle.handler_url} (controls at {handle.url}/_sim/)", flush=True)
    stopping.wait()
    handle.stop()


if __name__ == "__main__":
    main()
