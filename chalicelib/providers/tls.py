"""The one TLS context of our outbound calls (partners, users' webhooks): certifi's CA bundle, loaded once a process."""
from __future__ import annotations

import functools
import ssl


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Verifies certificates and host names. Loading the bundle costs ~20 ms of CPU: it is done once, on the first
    TLS connection, and the context is shared (an SSLContext is safe to use from many threads)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
