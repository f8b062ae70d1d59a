"""The whole schema: every table module registered on the one MetaData migrations compare with."""

from __future__ import annotations

from tidings.storage import automation_tables as automation_tables
from tidings.storage import delivery_tables as delivery_tables
from tidings.storage.tables import metadata

__all__ = ["automation_tables", "delivery_tables", "metadata"]
