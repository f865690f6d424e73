"""A container's start: the cyclic garbage collector paused while it runs, and the DynamoDB client built in it.

Importing app.py, botocore's DynamoDB model and the client built from it make some 66,000 objects that live as
long as the container. CPython's cyclic collector runs after every 700 new objects and walks the older ones again
at every tenth and hundredth run: about 130 collections during a start, 50 ms of a cold first order's 300 ms on
the benchmark machine (docs/benchmarks.md, "Cold start"), for some 600 objects (300 KB) left over by the imports
themselves. So importing this module, the first thing app.py does (and nothing else imports it), pauses it, and
`started()`, the last thing app.py does:

- builds the process's DynamoDB client, when that asks nothing of the network: a local endpoint's credentials
  are given, and Lambda puts the function's in its environment. AWS advises building SDK clients outside the
  handler; the first request then finds it ready (elsewhere, e.g. `chalice package` offline, it is built by the
  first request as before, and so is a client that failed to build here);
- moves everything alive into the permanent generation (`gc.freeze`), which no later collection walks: the ~600
  leftovers stay for good, since collecting them first would cost ~30 ms;
- resumes collection.

Reference counting frees everything but cycles the whole time; a failed start ends the container (or the test run)
anyway. `tests/unit/test_cold_start_imports.py` counts the collections of a start.
"""
from __future__ import annotations

import gc

gc.disable()  # before anything else is imported: see above

import os  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from chalicelib.config import Settings


def started(settings: Settings) -> None:
    """The container has started: build what its first request would, then collect garbage as usual again."""
    try:
        if settings.dynamodb_endpoint or _credentials_in_environment():
            _build_dynamodb_client()
    finally:
        gc.freeze()
        gc.enable()


def _credentials_in_environment() -> bool:
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"))


def _build_dynamodb_client() -> None:
    from chalicelib.store.base import connection

    try:
        connection().client  # noqa: B018  (built and kept: the property builds it once)
    except Exception as exc:  # whatever it is, the start must go on: every Lambda imports app.py
        from chalicelib.observability import logger

        # The first request that needs DynamoDB builds it again and answers its failure (logged with its request id)
        logger.warning("DynamoDB client not built at start", extra={"error": type(exc).__name__})
