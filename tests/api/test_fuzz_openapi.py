"""Fuzz every operation of the OpenAPI document: no request may end in a 5xx.

Schemathesis walks the app's OpenAPI document, so every route of every dialect is fuzzed
without being listed here, one test item per operation. Two checks matter: no response is a
server error (`not_a_server_error`), and every 4xx body is the one error shape
`{"error": str, "status": int, "details"?: list}` whose `status` is the HTTP status (see
tidings.api.errors). Schema conformance of successful bodies is left to the contract tests:
this suite asks "does any input break the server?", not "is every documented schema exact?".

The run is bounded and repeatable: a fixed seed, derandomized generation, no shrinking, no
example database, a fixed number of examples per operation. A full pass (schema examples,
boundary-value coverage, then random positive and negative fuzzing) runs as the bootstrap
admin, so every route reaches its handler; a smaller pass runs as a `reader` service account,
so the permission paths are fuzzed too. Each pass has its own app on a fresh database, shared
by all operations of the pass like a real server's.

The admin and reader passes run on SQLite. A third, smaller pass runs as a `writer` service
account on PostgreSQL, where some inputs fail that SQLite accepts (a NUL character in a string,
which PostgreSQL's text and JSONB cannot store, was one): writes and reads both reach the
database there. The full admin pass is not repeated on PostgreSQL, to keep the suite's longest
test bounded; the contract and integration suites cover PostgreSQL on every route.

Schemathesis serves the app in-process on an event-loop thread of its own and drives the ASGI
lifespan there, so the app is built with `manage_lifecycle=True`: the services start on the
loop that serves the requests, as under uvicorn. Their pools and background tasks cannot
straddle two loops, so pytest-asyncio's per-test loop and the `services` fixture are not used.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from tests.api.helpers import bearer
from tests.conftest import ADMIN_TOKEN, _pg_dsn, _pg_reset
from tidings.api.app import CREDENTIAL_PATHS, create_app
from tidings.services.runtime import Services
from tidings.settings import Settings

SEED = 20_260_601
ADMIN_EXAMPLES = 15
READER_EXAMPLES = 5
WRITER_EXAMPLES = 5
ACCOUNT = "fuzz-account"  # the service account of the reader and writer passes
REVOKE_KEY = ("DELETE", "/api/v1/tokens/{key_id}")

Case = schemathesis.Case[Any]


def _settings(data_dir: Path, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        secret_key="test-secret-key",
        sqlite_synchronous="NORMAL",
    )


def _openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, read at collection time to make one test per operation.

    Schemathesis's lazy loader (`schemathesis.pytest.from_fixture`) would read it from a
    fixture instead, but it sets `Function._nodeid`, which pytest 9.2 no longer has. Building
    the app reads the routes only: nothing is started or connected.
    """
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Services.build(_settings(Path(data_dir))), manage_lifecycle=False)
        return app.openapi()


def _config(*, max_examples: int, coverage: bool) -> schemathesis.Config:
    """A bounded, repeatable run: fixed seed, no shrinking, no example database."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # valid and invalid inputs
                "max-examples": max_examples,
                "deterministic": True,
                "no-shrink": True,
                "database": "none",
                # Our bearer header goes on every request; a generated security parameter
                # would only replace it and turn the pass into 401s.
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": coverage},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )


DOCUMENT = _openapi_document()
admin_schema = schemathesis.openapi.from_dict(
    DOCUMENT, config=_config(max_examples=ADMIN_EXAMPLES, coverage=True)
)
reader_schema = schemathesis.openapi.from_dict(
    DOCUMENT, config=_config(max_examples=READER_EXAMPLES, coverage=False)
)
writer_schema = schemathesis.openapi.from_dict(
    DOCUMENT, config=_config(max_examples=WRITER_EXAMPLES, coverage=False)
)

# Hypothesis settings that no profile may loosen: the explicit examples and generation only
# (no shrinking: a failure is reported as found), no deadline, no example database.
bounded = hypothesis_settings(
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Target:
    """The app under fuzz, who calls it, and what the pass saw."""

    app: FastAPI
    headers: dict[str, str]
    # The API keys the fuzzing principals authenticate with: revoking one would lock the rest
    # of the pass out (every later request a 401), so `DELETE /tokens/{id}` never names them.
    own_key_ids: frozenset[int]
    statuses: Counter[int] = field(default_factory=Counter)
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        """How much this pass sent, for `pytest -s`."""
        elapsed = time.monotonic() - self.started
        total = sum(self.statuses.values())
        statuses = dict(sorted(self.statuses.items()))
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{total} requests in {elapsed:.1f} s, statuses {statuses}{skipped}"


@pytest.fixture(scope="module")
def lifespans() -> Iterator[None]:
    """Stops every app schemathesis started in this module (their services with them)."""
    yield
    asgi.shutdown_lifespans()


def _serve(data_dir: Path, *, role: str | None, database_url: str | None = None) -> Target:
    """Start an app on a fresh database and set up the principal that fuzzes it.

    `role` None fuzzes as the bootstrap admin; otherwise as a service account with that role.
    """
    app = create_app(Services.build(_settings(data_dir, database_url)), manage_lifecycle=True)
    admin = bearer(ADMIN_TOKEN)
    headers = admin
    reader = role is not None
    # Entering the client starts the app's lifespan, so its services, on schemathesis's loop.
    with asgi.get_client(cast("asgi.ASGIApp", app)) as http:
        if reader:
            account = {"name": ACCOUNT, "roles": [role], "groups": []}
            created = http.post("/api/v1/service-accounts", headers=admin, json=account)
            assert created.status_code == 201, created.text
            key = {"name": "fuzz", "account": ACCOUNT}
            issued = http.post("/api/v1/tokens", headers=admin, json=key)
            assert issued.status_code == 201, issued.text
            headers = bearer(issued.json()["data"]["token"])
        keys = http.get("/api/v1/tokens", headers=admin)
        assert keys.status_code == 200, keys.text
        key_ids = frozenset(int(key["id"]) for key in keys.json()["data"])
    assert len(key_ids) == (2 if reader else 1)
    return Target(app=app, headers=headers, own_key_ids=key_ids)


@pytest.fixture(scope="module")
def admin_target(lifespans: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app fuzzed as the bootstrap admin."""
    target = _serve(tmp_path_factory.mktemp("fuzz-admin"), role=None)
    yield target
    print(f"\nfuzz as admin: {target.summary()}")


@pytest.fixture(scope="module")
def reader_target(lifespans: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The app fuzzed as a reader service account."""
    target = _serve(tmp_path_factory.mktemp("fuzz-reader"), role="reader")
    yield target
    print(f"\nfuzz as reader: {target.summary()}")


@pytest.fixture(scope="module")
def writer_target_on_postgresql(
    lifespans: None, tmp_path_factory: pytest.TempPathFactory, pg_database: str
) -> Iterator[Target]:
    """The app fuzzed as a writer service account, on the session's PostgreSQL database."""
    asyncio.run(_pg_reset(pg_database))
    target = _serve(
        tmp_path_factory.mktemp("fuzz-writer"), role="writer", database_url=_pg_dsn(pg_database)
    )
    yield target
    print(f"\nfuzz as writer on PostgreSQL: {target.summary()}")


def error_shape(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> None:
    """A 4xx carries `{"error": str, "status": <the HTTP status>}` (and maybe `details`)."""
    status = response.status_code
    if not 400 <= status < 500:
        return
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"{status} body is not JSON: {response.text[:200]!r}") from exc
    assert isinstance(body, dict), f"{status} body is not an object: {body!r}"
    assert isinstance(body.get("error"), str), f"{status} body has no error message: {body!r}"
    assert body.get("status") == status, f"{status} body says status {body.get('status')!r}"
    assert set(body) <= {"error", "status", "details"}, f"{status} body has extra keys: {body!r}"
    if "details" in body:
        assert isinstance(body["details"], list), f"{status} details is not a list: {body!r}"


def still_signed_in(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> None:
    """No 401 but from login and refresh: the fuzzing credential must work all pass long.

    Otherwise the rest of the pass would fuzz nothing but the authentication middleware.
    """
    if case.path not in CREDENTIAL_PATHS:
        assert response.status_code != 401, f"the fuzzing credential was refused: {response.text}"


def _revokes_own_key(case: Case, own_key_ids: frozenset[int]) -> bool:
    """Would this request revoke a key the fuzzing principals use (see `Target.own_key_ids`)?"""
    if (case.method.upper(), case.path) != REVOKE_KEY:
        return False
    raw = (case.path_parameters or {}).get("key_id")
    try:  # generous on purpose: "01", "1.0" and " 1" may all parse as key 1
        number = float(str(raw).strip())
    except ValueError:
        return False
    return number in own_key_ids


def _fuzz(case: Case, target: Target) -> None:
    """Send one generated request and check the answer."""
    if _revokes_own_key(case, target.own_key_ids):
        target.skipped += 1
        return
    response = case.call(app=target.app, headers=target.headers)
    target.statuses[response.status_code] += 1
    case.validate_response(response, checks=[not_a_server_error, error_shape, still_signed_in])


@admin_schema.parametrize()
@bounded
def test_no_server_error_as_admin(case: Case, admin_target: Target) -> None:
    _fuzz(case, admin_target)


@reader_schema.parametrize()
@bounded
def test_no_server_error_as_reader(case: Case, reader_target: Target) -> None:
    _fuzz(case, reader_target)


@writer_schema.parametrize()
@bounded
def test_no_server_error_as_writer_on_postgresql(
    case: Case, writer_target_on_postgresql: Target
) -> None:
    _fuzz(case, writer_target_on_postgresql)
