"""First start: a new database gets the `default` tenant and its admin service account."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError

from tidings.domain.clock import Clock
from tidings.services.credentials import write_private_file
from tidings.services.database import Database
from tidings.services.tenants import provision_tenant
from tidings.storage import tenants as tenant_store

DEFAULT_TENANT = "default"
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Bootstrapped:
    """What a first start created; `admin_key` is None when the operator supplied it."""

    tenant_locator: str
    admin_key: str | None
    token_file: Path | None


async def bootstrap(
    db: Database, *, clock: Clock, data_dir: Path, admin_token: str | None
) -> Bootstrapped | None:
    """Provision the default tenant when the database has none; None when it already existed."""
    try:
        async with db.transaction() as conn:
            if await tenant_store.count_tenants(conn) > 0:
                return None
            created = await provision_tenant(
                conn,
                name=DEFAULT_TENANT,
                now=clock.now_ns(),
                admin_secret=admin_token,
                system_admin=True,
            )
    except IntegrityError:  # another node bootstrapped the same database a moment earlier
        return None
    log.info("bootstrap.created", tenant=DEFAULT_TENANT, tenant_locator=created.tenant.locator)
    if admin_token:
        return Bootstrapped(created.tenant.locator, None, None)
    token_file = data_dir / "admin-token"
    await asyncio.to_thread(_save_token, token_file, created.admin_key.secret)
    return Bootstrapped(created.tenant.locator, created.admin_key.secret, token_file)


def _save_token(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(path, secret + "\n")
