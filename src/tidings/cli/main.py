"""Assembles the `tidings` command."""

from __future__ import annotations

import typer

from tidings.cli import client, packs, server

app = typer.Typer(
    name="tidings",
    help="Tidings: a durable, queryable, access-controlled event log.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(server.serve)
app.command()(server.worker)
app.command()(server.scheduler)
app.command()(server.migrate)
app.command()(client.emit)
app.add_typer(client.events_app, name="events")
app.add_typer(client.users_app, name="users")
app.add_typer(client.tokens_app, name="tokens")
app.add_typer(packs.packs_app, name="packs")


def main() -> None:
    """Entry point of the console script and of `python -m tidings`."""
    app()
