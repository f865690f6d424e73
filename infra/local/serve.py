"""Serve the Chalice app over HTTP locally with Chalice's own threaded dev server (what `chalice local` runs)."""
from __future__ import annotations

import argparse

from chalice.config import Config
from chalice.local import ThreadedHTTPServer, create_local_server

# The stdlib's listen backlog of 5 resets connections when tens of clients connect at once (benchmarks).
ThreadedHTTPServer.request_queue_size = 128


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    from app import app

    config = Config.create(chalice_stage="local", app_name="sms-rooms", chalice_app=app)
    server = create_local_server(app, config, args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
