"""Rules (001_…txt): create, read, update, enable, disable, delete and test."""

from __future__ import annotations

from tidings.domain.clock import Clock
from tidings.services.database import Database
from tidings.services.secret_box import SecretBox


class RuleAdmin:
    """Rules (001_…txt): create, read, update, enable, disable, delete and test."""

    def __init__(self, db: Database, *, clock: Clock, box: SecretBox) -> None:
        self._db = db
        self._clock = clock
        self._box = box
