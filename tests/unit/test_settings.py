"""Settings refuse what would fail later, and database URLs pick the async driver."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tidings.settings import Settings
from tidings.storage.engine import async_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////var/lib/t.db", "sqlite+aiosqlite:////var/lib/t.db"),
        ("sqlite+aiosqlite:///t.db", "sqlite+aiosqlite:///t.db"),
    ],
)
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database_url", "mysql://x"),
        ("admin_token", "short"),
        ("admin_token", "a.b.c-looks-like-a-jwt"),  # would be read as a JWT and never match
        ("port", 0),
        ("sqlite_synchronous", "OFF"),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})  # type: ignore[arg-type]
    assert caught.value.errors()[0]["loc"] == (field,)


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_PORT", "9000")
    monkeypatch.setenv("TIDINGS_DATABASE_URL", "")
    settings = Settings()
    assert settings.port == 9000
    assert settings.database_url is None
    assert settings.is_postgres is False
