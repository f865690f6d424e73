"""API Gateway's WebSocket management API (`POST`/`DELETE /<stage>/@connections/{id}`): how the app writes to, and
closes, a page's live-updates socket. Locally infra/local/live_gateway.py answers the same calls.

One client per endpoint, built under a lock: SMS intake pushes from several threads of one process (the local
host's workers; a warm Lambda's requests), and a botocore client built twice at once can lose one of its pushes.
Short timeouts and no retries: a push that does not go at once is worth nothing (the page polls as well).
"""
from __future__ import annotations

import threading
from typing import Any


class ConnectionGone(Exception):
    """The connection closed without its disconnect reaching us (API Gateway's GoneException, HTTP 410)."""


class LiveSockets:
    def __init__(self, region: str) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        """Raises ConnectionGone, or botocore's errors when the gateway could not be reached."""
        client = self._client(endpoint)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None

    def close(self, endpoint: str, connection_id: str) -> None:
        client = self._client(endpoint)
        try:
            client.delete_connection(ConnectionId=connection_id)
        except client.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None

    def _client(self, endpoint: str) -> Any:
        with self._lock:
            client = self._clients.get(endpoint)
            if client is None:
                import botocore.session  # imported on the first push: the API's cold start does not pay for it
                from botocore.config import Config

                client = botocore.session.get_session().create_client(
                    "apigatewaymanagementapi", endpoint_url=endpoint, region_name=self.region,
                    config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}))
                self._clients[endpoint] = client
            return client
