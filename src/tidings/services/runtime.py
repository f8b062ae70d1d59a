"""Wires the services of one process from its settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.domain.clock import Clock
from tidings.domain.cursors import CursorCodec
from tidings.services import credentials
from tidings.services.accounts import AccountAdmin
from tidings.services.auth import Authenticator
from tidings.services.automation_settings import AutomationSettings
from tidings.services.bootstrap import Bootstrapped, bootstrap
from tidings.services.catalogue import CatalogueAdmin
from tidings.services.clock import SystemClock
from tidings.services.database import Database
from tidings.services.delivery_history import DeliveryHistory
from tidings.services.enforcements import EnforcementQueries
from tidings.services.event_edits import EventEditor
from tidings.services.event_queries import EventQueries
from tidings.services.event_stream import EventStream
from tidings.services.executions import ExecutionAdmin
from tidings.services.failed_jobs import FailedJobs
from tidings.services.ingest import Ingestor
from tidings.services.maintenance import Housekeeper
from tidings.services.roles_groups import GroupAdmin, RoleAdmin
from tidings.services.rule_engine import ExecutionDefaults, RuleEngine
from tidings.services.rules import RuleAdmin
from tidings.services.schedules import ScheduleAdmin
from tidings.services.secret_box import SecretBox
from tidings.services.subscriptions import SubscriptionAdmin
from tidings.services.tenants import TenantAdmin
from tidings.services.webhooks import WebhookAdmin
from tidings.services.work_signal import WorkSignal
from tidings.settings import Settings
from tidings.storage.engine import sqlite_url


def database_url(settings: Settings) -> str:
    """The configured PostgreSQL URL, or the embedded SQLite file in the data dir."""
    if settings.database_url:
        return settings.database_url
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return sqlite_url(settings.sqlite_path)


def open_database(settings: Settings) -> Database:
    """The database handle for these settings (nothing is connected yet)."""
    return Database.connect(
        database_url(settings),
        pool_size=settings.db_pool_size,
        sqlite_synchronous=settings.sqlite_synchronous,
        max_batch=settings.group_commit_max_batch,
    )


@dataclass
class Services:
    """Everything the API needs, built once per process."""

    settings: Settings
    db: Database
    clock: Clock
    auth: Authenticator
    ingest: Ingestor
    events: EventQueries
    edits: EventEditor
    stream: EventStream
    tenants: TenantAdmin
    accounts: AccountAdmin
    roles: RoleAdmin
    groups: GroupAdmin
    housekeeper: Housekeeper
    box: SecretBox
    catalogue: CatalogueAdmin
    rules: RuleAdmin
    executions: ExecutionAdmin
    work_signal: WorkSignal
    engine: RuleEngine
    enforcements: EnforcementQueries
    automation_settings: AutomationSettings
    webhooks: WebhookAdmin
    schedules: ScheduleAdmin
    subscriptions: SubscriptionAdmin
    deliveries: DeliveryHistory
    failed_jobs: FailedJobs
    # Wakes this process's scheduler when a schedule is saved, resumed or changed.
    schedule_signal: WorkSignal
    bootstrapped: Bootstrapped | None = field(default=None)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Services:
        """Construct (without starting) the services for `settings`."""
        clock = clock or SystemClock()
        db = open_database(settings)
        secret = credentials.load_or_create_secret(settings.secret_key, settings.data_dir)
        auth = Authenticator(
            db,
            signer=credentials.TokenSigner(secret, ttl_seconds=settings.access_token_ttl_seconds),
            clock=clock,
            cache_seconds=settings.principal_cache_seconds,
            refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
        )
        cursors = CursorCodec(credentials.derive_key(secret, "cursor"))
        box = SecretBox(credentials.derive_key(secret, "sealing"))
        engine = RuleEngine(
            box=box,
            defaults=ExecutionDefaults(
                timeout_seconds=settings.execution_default_timeout_seconds,
                max_attempts=settings.execution_default_max_attempts,
            ),
        )
        work_signal = WorkSignal()
        schedule_signal = WorkSignal()
        schedules = ScheduleAdmin(db, clock=clock, engine=engine, signal=schedule_signal)
        executions = ExecutionAdmin(
            db,
            clock=clock,
            cursors=cursors,
            signal=work_signal,
            default_max_attempts=settings.execution_default_max_attempts,
        )
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            auth=auth,
            ingest=Ingestor(
                db,
                clock=clock,
                idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
                engine=engine,
                signal=work_signal,
            ),
            events=EventQueries(db, cursors=cursors),
            edits=EventEditor(db, clock=clock),
            stream=EventStream(db, cursors=cursors),
            tenants=TenantAdmin(db, clock=clock, on_change=auth.forget),
            accounts=AccountAdmin(db, clock=clock, on_change=auth.forget),
            roles=RoleAdmin(db, clock=clock, on_change=auth.forget),
            groups=GroupAdmin(db, clock=clock, on_change=auth.forget),
            housekeeper=Housekeeper(
                db,
                clock=clock,
                idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
                interval_seconds=settings.housekeeping_interval_seconds,
            ),
            box=box,
            catalogue=CatalogueAdmin(db, clock=clock, box=box),
            rules=RuleAdmin(db, clock=clock, box=box, engine=engine),
            executions=executions,
            work_signal=work_signal,
            engine=engine,
            enforcements=EnforcementQueries(db, cursors=cursors),
            automation_settings=AutomationSettings(db),
            webhooks=WebhookAdmin(db, clock=clock, box=box),
            schedules=schedules,
            schedule_signal=schedule_signal,
            subscriptions=SubscriptionAdmin(db, box=box, clock=clock),
            failed_jobs=FailedJobs(db, clock=clock, executions=executions, schedules=schedules),
            deliveries=DeliveryHistory(db, clock=clock, executions=executions, signal=work_signal),
        )

    async def start(self) -> None:
        """Migrate, bootstrap a new database, and start the writers."""
        await self.db.migrate()
        self.bootstrapped = await bootstrap(
            self.db,
            clock=self.clock,
            data_dir=self.settings.data_dir,
            admin_token=self.settings.admin_token,
        )
        await self.catalogue.ensure_builtin_packs()
        await self.db.start()
        self.housekeeper.start()

    async def stop(self) -> None:
        """Drain and close."""
        await self.housekeeper.stop()
        await self.db.close()
