"""Packs, triggers and actions: the automation catalogue an operator manages."""

from __future__ import annotations

from tidings.domain.clock import Clock
from tidings.services.database import Database
from tidings.services.secret_box import SecretBox


class CatalogueAdmin:
    """Packs, triggers and actions: the automation catalogue an operator manages."""

    def __init__(self, db: Database, *, clock: Clock, box: SecretBox) -> None:
        self._db = db
        self._clock = clock
        self._box = box
