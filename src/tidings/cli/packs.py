"""`tidings packs install DIR`: put a pack directory into a tenant's catalogue.

A server-side command, like `tidings migrate`: it opens the database named by the settings (the
data dir's SQLite file, or TIDINGS_DATABASE_URL) rather than calling the HTTP API, so it works
before any server runs and needs no credential beyond access to the data. The server stack is
imported inside the command, as in `server.py`, to keep `--help` fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tidings.cli.logging import configure_logging
from tidings.cli.server import DataDir, announce, load_settings
from tidings.settings import Settings

if TYPE_CHECKING:
    from tidings.services.pack_definitions import PackBundle
    from tidings.services.pack_install import InstallReport

# Refs and messages come from files: never read them as Rich markup.
out = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

packs_app = typer.Typer(help="Packs: install them from directories.", no_args_is_help=True)


@packs_app.command("install")
def install(
    directory: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, dir_okay=True, help="The pack directory (pack.yaml …)."
        ),
    ],
    tenant: Annotated[str, typer.Option(help="The tenant to install into.")] = "default",
    prune: Annotated[
        bool,
        typer.Option(
            help="Also remove the pack's triggers, actions and rules the directory lacks."
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Install or update the pack in DIRECTORY in one transaction; a rerun changes nothing."""
    from tidings.domain.errors import TidingsError
    from tidings.services.pack_files import InvalidPackDirectory, read_pack_dir

    settings = load_settings(data_dir)
    configure_logging(settings.log_level, settings.log_format)
    try:
        bundle = read_pack_dir(directory)
    except InvalidPackDirectory as invalid:
        for problem in invalid.problems:
            err.print(f"Error: {problem}")
        raise typer.Exit(1) from None
    try:
        report = asyncio.run(_install(settings, bundle, tenant=tenant, prune=prune))
    except TidingsError as error:
        err.print(f"Error: {error.message}")
        for detail in error.details:
            err.print(f"  {detail.field}: {detail.message}")
        raise typer.Exit(1) from None
    _print(report, tenant)


async def _install(
    settings: Settings, bundle: PackBundle, *, tenant: str, prune: bool
) -> InstallReport:
    from tidings.services.runtime import Services

    services = Services.build(settings)
    try:
        await services.start()
        announce(services.bootstrapped)
        return await services.catalogue.install(bundle, tenant=tenant, prune=prune)
    finally:
        await services.stop()


def _print(report: InstallReport, tenant: str) -> None:
    table = Table("", "created", "updated", "unchanged", "removed")
    for kind, changes in report.kinds.items():
        counts = (changes.created, changes.updated, changes.unchanged, changes.removed)
        table.add_row(kind, *(str(len(refs)) for refs in counts))
    out.print(table)
    for kind, changes in report.kinds.items():
        for verb, refs in (
            ("created", changes.created),
            ("updated", changes.updated),
            ("removed", changes.removed),
        ):
            for ref in refs:
                out.print(f"{verb} {kind.rstrip('s')} {ref}")
    if report.changed:
        out.print(f"Installed pack '{report.pack_ref}' into tenant '{tenant}'.")
    else:
        out.print(f"Pack '{report.pack_ref}' is up to date in tenant '{tenant}': nothing changed.")
