"""Long-running local processes stop at SIGTERM (make stop, the stack) or SIGINT (Ctrl-C) between two ticks."""
from __future__ import annotations

import signal
import threading


def stop_requested() -> threading.Event:
    """An event that is set when the process is asked to stop; the caller's loop checks it."""
    requested = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: requested.set())
    return requested
