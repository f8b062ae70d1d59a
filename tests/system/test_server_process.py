"""The server runs as a real process and answers over loopback."""

from __future__ import annotations

import httpx
import pytest

from tests.system.conftest import LiveServer

pytestmark = pytest.mark.system


def test_served_over_loopback(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(live_server.url + "/readyz").json()
    assert ready == {"status": "ok", "database": "sqlite"}
    assert httpx.get(live_server.url + "/api/v1/events").status_code == 401
