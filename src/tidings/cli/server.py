"""Commands that run the server side: serve and migrate.

The server stack (FastAPI, SQLAlchemy, uvicorn) is imported inside the commands that need it,
so the client commands and `--help` start in a fraction of the time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tidings.cli.logging import configure_logging
from tidings.settings import Settings

if TYPE_CHECKING:
    from tidings.services.bootstrap import Bootstrapped

err = Console(stderr=True, soft_wrap=True)

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
    import uvicorn

    from tidings.api.app import create_app
    from tidings.services.runtime import Services

    announce(asyncio.run(_prepare(settings)))
    app = create_app(Services.build(settings))
    err.print(f"Tidings listening on http://{settings.host}:{settings.port}")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )
