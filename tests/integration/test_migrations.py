"""The migrations build exactly the schema `tables.py` declares, on both engines."""

from __future__ import annotations

from tidings.services.runtime import Services
from tidings.storage.migrate import schema_differences


async def test_migrated_schema_matches_the_tables(services: Services) -> None:
    assert await schema_differences(services.db.engines.writer) == []


async def test_migrating_again_changes_nothing(services: Services) -> None:
    await services.db.migrate()
    assert await schema_differences(services.db.engines.writer) == []
