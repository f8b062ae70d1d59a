"""The `tidings` command: server commands and API client commands."""

from __future__ import annotations

from tidings.cli.main import app, main

__all__ = ["app", "main"]
