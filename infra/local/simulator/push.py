"""Push delivery: POST each SMS, signed, to the configured push URL when it arrives, as partners' webhooks do."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from chalicelib.domain.clock import protocol_time
from chalicelib.domain.push_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, push_signature
from infra.local.simulator.activation import SimActivation, SimSms
from infra.local.simulator.state import SimState

_TIMEOUT_SECONDS = 5.0
# Timers wake a little after the SMS falls due, so the lazy delivery sees it as due.
_TIMER_MARGIN_SECONDS = 0.05


class SmsPusher:
    """Listens to the state: a timer per scheduled SMS makes it arrive on time, a thread per SMS posts it.

    Only SMS scheduled while a push URL is configured get a timer; the others are pushed when a read
    delivers them. A push is retried `attempts` times with a growing pause on non-2xx or no answer.
    """

    def __init__(self, state: SimState, attempts: int = 4, backoff_seconds: float = 0.5) -> None:
        self._state = state
        self._attempts = attempts
        self._backoff_seconds = backoff_seconds
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def sms_scheduled(self, activation_id: int, delay_seconds: float) -> None:
        if not self._state.config.push_url or self._stopped.is_set():
            return
        timer = threading.Timer(delay_seconds + _TIMER_MARGIN_SECONDS, self._fire, args=(activation_id,))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def sms_delivered(self, activation: SimActivation, sms: SimSms) -> None:
        config = self._state.config
        if not config.push_url or self._stopped.is_set():
            return
        body = json.dumps({"activationId": activation.id, "phone": activation.phone, "text": sms.text,
                           "code": sms.code, "receivedAt": protocol_time(sms.received_at)}).encode()
        threading.Thread(target=self._post, args=(config.push_url, config.push_secret, body), daemon=True).start()

    def rental_sms(self, url: str, body: bytes) -> None:
        """A rented number's SMS, posted to the rental's own URL (getRentNumber's `url`) or the configured one."""
        if self._stopped.is_set():
            return
        threading.Thread(target=self._post, args=(url, self._state.config.push_secret, body), daemon=True).start()

    def cancel_timers(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    def stop(self) -> None:
        self._stopped.set()
        self.cancel_timers()

    def _fire(self, activation_id: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        self._state.refresh(activation_id)

    def _post(self, url: str, secret: str, body: bytes) -> None:
        for attempt in range(self._attempts):
            if attempt and self._stopped.wait(self._backoff_seconds * attempt):
                return
            if _posted(_signed(url, secret, body)):
                self._state.count(self._state.pushes, "sent")
                return
            self._state.count(self._state.pushes, "retried" if attempt + 1 < self._attempts else "failed")


def _signed(url: str, secret: str, body: bytes) -> urllib.request.Request:
    """Signed afresh at each attempt: the timestamp is part of what is signed, and the receiver's window is short."""
    timestamp = int(time.time())
    # The URL was checked to be http(s) when it was configured.
    return urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: push_signature(secret, timestamp, body)})


def _posted(request: urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False
