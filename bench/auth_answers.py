"""Whether an answer tells a known address from an unknown one by its cost: sign-in with a wrong password, register,
and forgot-password, each for an address that has an account and one that has none. In this process, on DynamoDB
Local, with the deployed argon2id parameters and the local outbox mailer; the figures are wall time and DynamoDB calls.
"""
from __future__ import annotations

from collections.abc import Callable

from bench.context import BenchContext
from bench.dynamo import CallLog, describe, measure
from bench.registry import Needs, benchmark
from bench.report import Table
from bench.stats import median, ms, percentile, ratio
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import Unauthenticated
from chalicelib.domain.ids import new_id
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.accounts.recovery import Recovery
from chalicelib.services.accounts.registration import AccountsService
from chalicelib.services.accounts.signin import SignIn

TIMES = 15
PASSWORD = "violet-harbour-lantern-42"  # noqa: S105  (a bench account's, local only)
COLUMNS = ["operation", "address", "median ms", "p90 ms", "unknown / known (median)", "DynamoDB calls",
           "calls by API"]


def _address() -> str:
    return f"{new_id('auth')}@bench.test"


def _wrong_password(signin: SignIn, emails: list[str], subnet: int) -> Callable[[int], object]:
    def attempt(i: int) -> None:
        try:  # a fresh IP each time: the (email, IP) pair's wait must not answer for the password check
            signin.login(emails[i], "not the password at all", f"10.{subnet}.0.{i + 1}")
        except Unauthenticated:
            return
        raise AssertionError("a wrong password signed in")

    return attempt


def _interleaved(known: Callable[[int], object], unknown: Callable[[int], object]) -> dict[str, tuple[CallLog,
                                                                                                    list[float]]]:
    """Each operation TIMES times, known and unknown taking turns (so warm-up and load drift hit both alike)."""
    runs: dict[str, tuple[CallLog, list[float]]] = {"known": (CallLog(), []), "unknown": (CallLog(), [])}
    for i in range(TIMES):
        for label, operation in (("known", known), ("unknown", unknown)):
            log, seconds = measure(1, lambda _, op=operation, n=i: op(n))  # type: ignore[misc]
            runs[label][0].calls.extend(log.calls)
            runs[label][1].extend(seconds)
    return runs


@benchmark("auth-answers", order=47, needs=Needs.DYNAMODB)
def auth_answers(ctx: BenchContext) -> Table:
    settings = ctx.settings
    accounts = AccountsService(settings, SystemClock(), OutboxMailer(settings.mail_outbox_dir or ".local/outbox",
                                                                     settings.mail_from))
    signin = SignIn(accounts)
    recovery = Recovery(signin)
    version = settings.agreement_version
    known = [accounts.register(_address(), PASSWORD, version, "192.0.2.1").email for _ in range(TIMES)]
    unknown = [_address() for _ in range(TIMES)]
    fresh = [_address() for _ in range(TIMES)]
    cases: list[tuple[str, Callable[[int], object], Callable[[int], object]]] = [
        ("sign in, wrong password", _wrong_password(signin, known, 1), _wrong_password(signin, unknown, 2)),
        ("register", lambda i: accounts.register(known[i], PASSWORD, version, "192.0.2.2"),
         lambda i: accounts.register(fresh[i], PASSWORD, version, "192.0.2.2")),
        ("forgot password", lambda i: recovery.forgot_password(known[i]),
         lambda i: recovery.forgot_password(unknown[i])),
    ]
    table = Table("Known and unknown addresses: the cost of each answer", COLUMNS,
                  goal="unknown / known near 1.00× and the same DynamoDB work, so timing tells nobody who has an "
                       "account")
    for name, on_known, on_unknown in cases:
        runs = _interleaved(on_known, on_unknown)
        known_median = median(runs["known"][1])
        for label, (log, seconds) in runs.items():
            calls, breakdown, _ = describe(log, TIMES)
            table.add(name, label, ms(median(seconds)), ms(percentile(seconds, 90)),
                      ratio(median(seconds), known_median) if label == "unknown" else "", calls, breakdown)
    table.notes.append("register 'known' is an address that already has an account (the answer is a decoy); "
                       "'unknown' a new one. Each sign-in comes from its own IP, as a stranger's guesses would.")
    return table
