"""The one moto for unit tests that keep their tables a whole module: unit settings, every table bound and made."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from chalicelib.config import Settings, settings_from_env
from chalicelib.services.platform import runtime_settings
from chalicelib.store.base import bind_models, create_tables


def unit_settings(outbox_dir: str | None = None) -> Settings:
    """The local stage over moto, with the table prefix of the shared `settings` fixture (tests/conftest.py).

    Every unit suite binds the same prefix on purpose: `bind_models` is then a no-op after the first
    module, while a new prefix makes PynamoDB build a botocore client per model again (seconds a module).
    """
    return replace(settings_from_env({"STAGE": "local"}), dynamodb_endpoint=None, table_prefix="unit-",
                   mail_outbox_dir=outbox_dir)


@contextmanager
def shared_moto_tables(outbox_dir: str | None = None) -> Iterator[Settings]:
    """Moto with every table, made once for a whole test module: its tests keep apart by their own ids
    (see `stripe_fake.new_account`) or wipe what they use, instead of paying for fresh tables each."""
    from moto import mock_aws

    with mock_aws():
        settings = unit_settings(outbox_dir)
        bind_models(settings)
        create_tables(wait=False)
        runtime_settings.clear_cache()
        yield settings
    runtime_settings.clear_cache()
