"""Create every table from the PynamoDB models on the configured endpoint (idempotent)."""
from __future__ import annotations

from chalicelib.config import get_settings
from chalicelib.store.base import bind_models, create_tables


def main() -> None:
    bind_models(get_settings())
    created = create_tables()
    print(f"tables ready ({len(created)} created)")


if __name__ == "__main__":
    main()
