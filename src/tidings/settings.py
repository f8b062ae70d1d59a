"""Process settings, read once from `TIDINGS_*` environment variables and passed in explicitly.

Nothing imports a settings global: the CLI builds one `Settings` and hands it to the app factory,
the database and the services that need a value from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator can turn, with the default the embedded install uses."""

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="ignore")

    data_dir: Path = Field(default=Path("tidings-data"))
    database_url: str | None = Field(
        default=None,
        description="postgresql://… selects PostgreSQL; unset means SQLite in the data dir.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    grpc_port: int = Field(
        default=8765,
        ge=0,
        le=65535,
        description="Port of the gRPC server (Tracker's EventService) beside HTTP; 0 disables it.",
    )
    tracker_time_zone: str = Field(
        default="UTC",
        description="IANA time zone whose calendar day Tracker's /events/today means.",
    )

    admin_token: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="Exact API key given to the bootstrap admin of a new database "
        "(16-200 letters, digits, _ or -).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signs access tokens and cursors. Generated into the data dir when unset; "
        "set it explicitly when several nodes share one database.",
    )
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    principal_cache_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="How long a resolved credential is reused; a revocation takes effect after it.",
    )

    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description="FULL survives power loss; NORMAL survives a process crash and is faster.",
    )
    db_pool_size: int = Field(default=8, ge=1, le=200)
    group_commit_max_batch: int = Field(default=512, ge=1, le=10_000)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=1000, ge=1, le=10_000)
    max_payload_depth: int = Field(default=32, ge=1, le=256)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    housekeeping_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often expired idempotency keys and tokens are purged.",
    )

    workers: int = Field(
        default=16,
        ge=0,
        le=1000,
        description="Executions `tidings serve` runs at once in-process (0: none; run "
        "`tidings worker` processes instead), and the default of `tidings worker`.",
    )
    worker_lease_seconds: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="A worker's hold on a running execution, renewed while it runs; after a "
        "worker dies its executions run again once this has passed.",
    )
    enable_local_commands: bool = Field(
        default=False,
        description="Allow the core.local_command action to run programs on the worker's host.",
    )
    allow_private_targets: bool = Field(
        default=False,
        description="Let outgoing requests reach private, loopback and link-local addresses "
        "(tests and local development).",
    )
    # Email deliveries (subscriptions with an `email` target) go through this SMTP relay.
    smtp_host: str | None = Field(
        default=None, description="SMTP relay for email deliveries; unset: email targets fail."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls: upgrade a plain connection (port 587); tls: TLS from the start "
        "(port 465); none: plain text (a relay on the same host or network only).",
    )
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str = Field(
        default="tidings@localhost", description="The From address of email deliveries."
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    execution_default_timeout_seconds: float = Field(default=30.0, gt=0, le=24 * 3600)
    execution_default_max_attempts: int = Field(default=3, ge=1, le=100)

    public_api_docs: bool = Field(
        default=False,
        description="Serve /openapi.json and /docs without authentication (trusted networks only).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    @field_validator("tracker_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            example = "e.g. UTC, Europe/Paris"
            raise ValueError(f"'{value}' is not an IANA time zone ({example})") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(
            ("postgresql://", "postgresql+asyncpg://", "sqlite://", "sqlite+aiosqlite://")
        ):
            raise ValueError("must start with postgresql:// or sqlite:///")
        return value

    @property
    def is_postgres(self) -> bool:
        """True when the configured database is PostgreSQL."""
        return self.database_url is not None and self.database_url.startswith("postgresql")

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded database lives."""
        return self.data_dir / "tidings.db"
