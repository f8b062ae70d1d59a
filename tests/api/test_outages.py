"""A database that cannot be reached is a 503 with Retry-After, never a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import exc as sa_exc

from tidings.api.app import create_app
from tidings.services.database import is_outage
from tidings.services.runtime import Services
from tidings.settings import Settings


async def test_unreachable_database_is_503(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1:1/nowhere", secret_key="k"
    )
    app = create_app(Services.build(settings), manage_lifecycle=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api/v1/events", headers={"Authorization": "Bearer tdg_x"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json() == {"error": "Database unavailable, retry later", "status": 503}
        ready = await client.get("/readyz")
        assert ready.status_code == 503


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (sa_exc.OperationalError("x", {}, Exception("database is locked")), True),
        (sa_exc.OperationalError("x", {}, Exception("no such table: events")), False),
        (sa_exc.IntegrityError("x", {}, Exception("UNIQUE constraint failed")), False),
        (ValueError("bug"), False),
    ],
)
def test_outage_classification(error: BaseException, outage: bool) -> None:
    assert is_outage(error) is outage
