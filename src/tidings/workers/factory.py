"""Assembles a worker pool from a process's services and settings."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from tidings.actions.builtin import RUNNERS
from tidings.actions.deliveries import DeliveryRunner, SmtpRelay
from tidings.actions.guarded_http import GuardedClient, HttpPolicy
from tidings.actions.runner import ActionSettings, LoadPackConfig, Runner
from tidings.services.deliveries import DeliveryDesk
from tidings.services.execution_queue import ExecutionQueue
from tidings.services.runtime import Services
from tidings.storage.executions import ClaimedExecution
from tidings.workers import wakeups
from tidings.workers.emitter import Emitter
from tidings.workers.pool import PoolConfig, WorkerPool


def postgres_dsn(services: Services) -> str:
    """The database's address as asyncpg takes it (password included)."""
    url = services.db.engines.writer.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def build_worker_pool(
    services: Services,
    *,
    concurrency: int | None = None,
    config: PoolConfig | None = None,
    queue: ExecutionQueue | None = None,
    runners: Mapping[str, Runner] = RUNNERS,
    name: str | None = None,
) -> WorkerPool:
    """A pool (not started) that runs `services`' executions as the settings say."""
    settings = services.settings
    queue = queue or ExecutionQueue(services.db, clock=services.clock, box=services.box)
    config = config or PoolConfig(
        concurrency=settings.workers if concurrency is None else concurrency,
        lease_seconds=settings.worker_lease_seconds,
    )
    listen: Callable[[Callable[[], None]], Coroutine[Any, Any, None]] | None = None
    if services.db.dialect == "postgresql":
        dsn = postgres_dsn(services)

        def listen(wake: Callable[[], None]) -> Coroutine[Any, Any, None]:
            return wakeups.listen(dsn, wake)

    def pack_config(claimed: ClaimedExecution) -> LoadPackConfig:
        async def load() -> dict[str, Any]:
            return await queue.pack_config(
                tenant_id=claimed.tenant_id, action_ref=claimed.action_ref
            )

        return load

    if "delivery" not in runners:
        runners = {**runners, "delivery": delivery_runner(services)}
    pool = WorkerPool(
        queue=queue,
        signal=services.work_signal,
        http=GuardedClient(HttpPolicy(allow_private=settings.allow_private_targets)),
        emitter=Emitter(services.ingest, queue).for_execution,
        pack_config=pack_config,
        action_settings=ActionSettings(enable_local_commands=settings.enable_local_commands),
        config=config,
        listen=listen,
        runners=runners,
        name=name,
    )
    # Executions this process enqueues go straight to the pool when it has room.
    services.ingest.attach_pool(pool)
    return pool


def delivery_runner(services: Services) -> DeliveryRunner:
    """The `delivery` runner: subscription deliveries, with the process's SMTP relay."""
    settings = services.settings
    smtp = None
    if settings.smtp_host:
        smtp = SmtpRelay(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            timeout_seconds=settings.smtp_timeout_seconds,
        )
    desk = DeliveryDesk(services.db, box=services.box, clock=services.clock, ingest=services.ingest)
    return DeliveryRunner(desk, smtp=smtp)
