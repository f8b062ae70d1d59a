"""Commands that run the server side: serve, worker, scheduler and migrate.

The server stack (FastAPI, SQLAlchemy, uvicorn) is imported inside the commands that need it,
so the client commands and `--help` start in a fraction of the time.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tidings.cli.gc_tuning import tune_for_serving
from tidings.cli.logging import configure_logging
from tidings.settings import Settings

if TYPE_CHECKING:
    import uvicorn

    from tidings.api.grpc.server import GrpcServer
    from tidings.services.bootstrap import Bootstrapped
    from tidings.services.runtime import Services
    from tidings.workers.pool import WorkerPool
    from tidings.workers.scheduler import Scheduler

err = Console(stderr=True, soft_wrap=True)
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where the embedded database and secrets live.", show_default=False
    ),
]


def load_settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    """Settings from the environment, with command-line options on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def announce(result: Bootstrapped | None) -> None:
    """Tell the operator about a freshly created admin key, once."""
    if result is None:
        return
    if result.admin_key is None:
        err.print("[bold]New database:[/] the admin API key is the value of TIDINGS_ADMIN_TOKEN.")
        return
    err.print(
        "[bold]New database:[/] created tenant 'default' and service account 'admin'.\n"
        f"Admin API key (shown once, also saved to {result.token_file} with mode 0600):\n"
        f"  {result.admin_key}"
    )


async def _prepare(settings: Settings) -> Bootstrapped | None:
    from tidings.services.runtime import Services

    services = Services.build(settings)
    try:
        await services.start()
        return services.bootstrapped
    finally:
        await services.stop()


def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations (and provision a new database)."""
    settings = load_settings(data_dir)
    configure_logging(settings.log_level, settings.log_format)
    announce(asyncio.run(_prepare(settings)))
    err.print("Database is up to date.")


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the API server (on SQLite in the data dir unless TIDINGS_DATABASE_URL is set)."""
    settings = load_settings(data_dir, host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        signals = runner.run(_serve(settings))
    # As uvicorn.run does: a server stopped by a signal ends as that signal's default would
    # have ended it (killed by SIGTERM, KeyboardInterrupt for SIGINT), after shutting down.
    for received in reversed(signals):
        signal.raise_signal(received)


def _http_server(config: uvicorn.Config) -> uvicorn.Server:
    """uvicorn's server without its own signal handling: `_serve` stops HTTP and gRPC together."""
    import uvicorn

    class HttpServer(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return HttpServer(config)


async def _serve(settings: Settings) -> list[int]:
    """HTTP (uvicorn) and gRPC on one event loop and one `Services`, started and stopped once.

    The services start before either server listens and stop after both have drained, so the
    FastAPI lifespan leaves them alone (`manage_lifecycle=False`). gRPC listens before HTTP: once
    /healthz answers, both do. SIGTERM or SIGINT stops both at once; each drains its calls for
    up to 10 seconds. Returns the signals that stopped the server.
    """
    from tidings.services.runtime import Services

    services = Services.build(settings)
    await services.start()
    pool = await _start_workers(services)
    scheduler = await _start_scheduler(services)
    try:
        announce(services.bootstrapped)
        grpc_server = await _start_grpc(services, settings)
        stopping: list[asyncio.Task[None]] = []  # the gRPC shutdown a signal began
        try:
            return await _serve_http(settings, services, grpc_server, stopping)
        finally:
            if grpc_server is not None:
                await (stopping[0] if stopping else grpc_server.stop())
    finally:
        await scheduler.stop()
        if pool is not None:
            await pool.stop()
        await services.stop()


async def _start_workers(services: Services) -> WorkerPool | None:
    """The in-process worker pool (`TIDINGS_WORKERS` slots), or None when it is 0."""
    if services.settings.workers == 0:
        return None
    from tidings.workers.factory import build_worker_pool

    pool = build_worker_pool(services)
    await pool.start()
    return pool


async def _start_scheduler(services: Services) -> Scheduler:
    """The in-process scheduler: fires due schedules (every process may run one)."""
    from tidings.workers.scheduler import build_scheduler

    scheduler = build_scheduler(services)
    await scheduler.start()
    return scheduler


POSTGRES_ONLY = (
    "`tidings worker` runs workers apart from the API, which needs PostgreSQL: set "
    "TIDINGS_DATABASE_URL=postgresql://…. On the embedded SQLite database, `tidings serve` runs "
    "the workers in-process (TIDINGS_WORKERS)."
)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, help="Executions run at once (default: TIDINGS_WORKERS).", show_default=False
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run executions from the queue, without the API (PostgreSQL only)."""
    settings = load_settings(data_dir)
    if not settings.is_postgres:
        err.print(f"[bold red]Error:[/] {POSTGRES_ONLY}")
        raise typer.Exit(2)
    configure_logging(settings.log_level, settings.log_format)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        signals = runner.run(_work(settings, concurrency))
    for received in reversed(signals):
        signal.raise_signal(received)


async def _work(settings: Settings, concurrency: int | None) -> list[int]:
    """Run a worker pool until SIGTERM or SIGINT, then stop it gracefully."""
    from tidings.services.runtime import Services
    from tidings.workers.factory import build_worker_pool

    services = Services.build(settings)
    await services.start()
    try:
        pool = build_worker_pool(services, concurrency=concurrency or max(settings.workers, 1))
        loop = asyncio.get_running_loop()
        received: list[int] = []
        stopped = asyncio.Event()

        def stop(signum: int) -> None:
            received.append(signum)
            stopped.set()

        for signum in HANDLED_SIGNALS:
            loop.add_signal_handler(signum, stop, signum)
        await pool.start()
        tune_for_serving()
        err.print(f"Tidings worker {pool.name} running")
        try:
            await stopped.wait()
        finally:
            for signum in HANDLED_SIGNALS:
                loop.remove_signal_handler(signum)
            await pool.stop()
        return received
    finally:
        await services.stop()


SCHEDULER_POSTGRES_ONLY = (
    "`tidings scheduler` fires schedules apart from the API, which needs PostgreSQL: set "
    "TIDINGS_DATABASE_URL=postgresql://…. On the embedded SQLite database, `tidings serve` runs "
    "the scheduler in-process."
)


def scheduler(data_dir: DataDir = None) -> None:
    """Fire due schedules, without the API (PostgreSQL only; `serve` runs one too)."""
    settings = load_settings(data_dir)
    if not settings.is_postgres:
        err.print(f"[bold red]Error:[/] {SCHEDULER_POSTGRES_ONLY}")
        raise typer.Exit(2)
    configure_logging(settings.log_level, settings.log_format)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        signals = runner.run(_schedule(settings))
    for received in reversed(signals):
        signal.raise_signal(received)


async def _schedule(settings: Settings) -> list[int]:
    """Run a scheduler until SIGTERM or SIGINT, then stop it."""
    from tidings.services.runtime import Services

    services = Services.build(settings)
    await services.start()
    try:
        loop = asyncio.get_running_loop()
        received: list[int] = []
        stopped = asyncio.Event()

        def stop(signum: int) -> None:
            received.append(signum)
            stopped.set()

        for signum in HANDLED_SIGNALS:
            loop.add_signal_handler(signum, stop, signum)
        running = await _start_scheduler(services)
        err.print("Tidings scheduler running")
        try:
            await stopped.wait()
        finally:
            for signum in HANDLED_SIGNALS:
                loop.remove_signal_handler(signum)
            await running.stop()
        return received
    finally:
        await services.stop()


async def _serve_http(
    settings: Settings,
    services: Services,
    grpc_server: GrpcServer | None,
    stopping: list[asyncio.Task[None]],
) -> list[int]:
    """Serve HTTP until a signal, which also begins the gRPC server's shutdown."""
    import uvicorn

    from tidings.api.app import create_app

    http = _http_server(
        uvicorn.Config(
            create_app(services, manage_lifecycle=False),
            host=settings.host,
            port=settings.port,
            loop="none",
            http="httptools",
            access_log=False,
            log_level=settings.log_level,
            timeout_graceful_shutdown=10,
        )
    )
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        http.handle_exit(signum, None)  # a second SIGINT forces uvicorn's exit
        if grpc_server is not None and not stopping:
            stopping.append(loop.create_task(grpc_server.stop()))

    for signum in HANDLED_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    tune_for_serving()  # everything is built: the app, the services, the gRPC server
    try:
        err.print(f"Tidings listening on http://{settings.host}:{settings.port}")
        await http.serve()
    finally:
        for signum in HANDLED_SIGNALS:
            loop.remove_signal_handler(signum)
    return received


async def _start_grpc(services: Services, settings: Settings) -> GrpcServer | None:
    """The gRPC server on TIDINGS_GRPC_PORT, or None when it is 0 (disabled)."""
    if settings.grpc_port == 0:
        return None
    from tidings.api.grpc import server as grpc_api

    try:
        started = await grpc_api.start(services, host=settings.host, port=settings.grpc_port)
    except grpc_api.BindError as exc:
        err.print(f"[bold red]Error:[/] {exc} (set TIDINGS_GRPC_PORT, or 0 to disable gRPC)")
        raise typer.Exit(1) from None
    address = grpc_api.address(settings.host, started.port)
    err.print(f"Tidings gRPC (tracker.event.v1alpha1.EventService) listening on {address}")
    return started
