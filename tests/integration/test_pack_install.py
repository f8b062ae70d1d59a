"""Installing packs: the CLI on a real data dir; the service's idempotence, pruning and safety."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.unit.test_pack_files import full_pack
from tidings.domain.errors import Conflict, InvalidInput, NotFound
from tidings.services.pack_config import PURPOSE
from tidings.services.pack_definitions import (
    ActionSpec,
    PackBundle,
    PackSpec,
    RuleSpec,
    TriggerSpec,
)
from tidings.services.pack_files import read_pack_dir
from tidings.services.pack_install import Changes, InstallReport
from tidings.services.runtime import Services
from tidings.storage import catalogue as catalogue_store
from tidings.storage.automation_tables import actions, packs, rules, triggers

SECRET = "s3cr3t-token-from-pack-yaml"


def report(
    ref: str,
    *,
    pack: Changes | None = None,
    triggers: Changes | None = None,
    actions: Changes | None = None,
    rules: Changes | None = None,
) -> InstallReport:
    """An expected report; kinds left out changed nothing and held nothing."""
    return InstallReport(
        ref,
        pack or Changes(),
        triggers or Changes(),
        actions or Changes(),
        rules or Changes(),
    )


def rule(ref: str, trigger_ref: str, action_ref: str = "core.noop") -> RuleSpec:
    """A rule that always matches."""
    return RuleSpec(ref, ref, "always", trigger_ref, action_ref, {}, {})


BUNDLE = PackBundle(
    pack=PackSpec("ops", "Ops"),
    triggers=(TriggerSpec("ops.alert", "Alert"), TriggerSpec("ops.page", "Page")),
    actions=(ActionSpec("ops.log", "Log", "echo"),),
    rules=(rule("ops.on_alert", "ops.alert", "ops.log"), rule("ops.on_page", "ops.page")),
)


def table(counts: str) -> str:
    """The command's table when every kind has the same `created updated unchanged removed`."""
    c, u, n, r = counts.split()
    rows = "".join(
        f"│ {kind:<8} │ {c:<7} │ {u:<7} │ {n:<9} │ {r:<7} │\n"
        for kind in ("pack", "triggers", "actions", "rules")
    )
    return (
        "┏━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━┓\n"
        "┃          ┃ created ┃ updated ┃ unchanged ┃ removed ┃\n"
        "┡━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━┩\n"
        f"{rows}"
        "└──────────┴─────────┴─────────┴───────────┴─────────┘\n"
    )


async def version(services: Services) -> int:
    """The default tenant's catalogue version."""
    async with services.db.read() as conn:
        return await catalogue_store.current_version(conn, tenant_id=1)


@pytest.mark.system
def test_the_cli_installs_a_directory_once(tmp_path: Path) -> None:
    directory = full_pack(tmp_path / "deploys")
    pack_yaml = directory / "pack.yaml"
    pack_yaml.write_text(pack_yaml.read_text() + f"  token: {SECRET}\n")
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["TIDINGS_LOG_LEVEL"] = "warning"
    command = [sys.executable, "-m", "tidings", "packs", "install", str(directory)]
    command += ["--data-dir", str(data_dir)]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert first.stdout == table("1 0 0 0") + "".join(
        [
            "created pack deploys\n",
            "created trigger deploys.finished\n",
            "created action deploys.announce\n",
            "created rule deploys.announce_failures\n",
            "Installed pack 'deploys' into tenant 'default'.\n",
        ]
    )
    assert "New database: created tenant 'default'" in first.stderr  # and its admin key
    second = run()
    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout == table("0 0 1 0") + (
        "Pack 'deploys' is up to date in tenant 'default': nothing changed.\n"
    )
    assert SECRET not in first.stdout + first.stderr + second.stdout + second.stderr
    stored = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("tidings"))
    assert SECRET.encode() not in stored

    broken = directory / "actions" / "announce.yml"
    broken.write_text(broken.read_text().replace("runner: http_request", "runner: shell"))
    refused = run()
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "Error: actions/announce.yml: runner: must be one of noop, echo, http_request, "
        "emit_event, slack, local_command, python\n"
    )


async def test_installing_twice_changes_nothing_the_second_time(services: Services) -> None:
    first = await services.catalogue.install(BUNDLE, tenant="default")
    assert first == report(
        "ops",
        pack=Changes(created=["ops"]),
        triggers=Changes(created=["ops.alert", "ops.page"]),
        actions=Changes(created=["ops.log"]),
        rules=Changes(created=["ops.on_alert", "ops.on_page"]),
    )
    before = await version(services)
    second = await services.catalogue.install(BUNDLE, tenant="default")
    assert second == report(
        "ops",
        pack=Changes(unchanged=["ops"]),
        triggers=Changes(unchanged=["ops.alert", "ops.page"]),
        actions=Changes(unchanged=["ops.log"]),
        rules=Changes(unchanged=["ops.on_alert", "ops.on_page"]),
    )
    assert second.changed is False
    assert await version(services) == before


async def test_a_changed_definition_updates_only_what_changed(services: Services) -> None:
    await services.catalogue.install(BUNDLE, tenant="default")
    changed = dataclasses.replace(
        BUNDLE,
        triggers=(TriggerSpec("ops.alert", "Alert!"), BUNDLE.triggers[1]),
        rules=(
            BUNDLE.rules[0],
            dataclasses.replace(BUNDLE.rules[1], conditions={"var": "x", "==": 1}),
        ),
    )
    result = await services.catalogue.install(changed, tenant="default")
    assert result == report(
        "ops",
        pack=Changes(unchanged=["ops"]),
        triggers=Changes(updated=["ops.alert"], unchanged=["ops.page"]),
        actions=Changes(unchanged=["ops.log"]),
        rules=Changes(updated=["ops.on_page"], unchanged=["ops.on_alert"]),
    )
    async with services.db.read() as conn:
        stored = (await conn.execute(select(rules.c.conditions).where(rules.c.id == 2))).scalar()
    assert stored == {"var": "x", "==": 1}


async def test_only_prune_removes_what_the_directory_lacks(services: Services) -> None:
    await services.catalogue.install(BUNDLE, tenant="default")
    smaller = dataclasses.replace(
        BUNDLE, triggers=BUNDLE.triggers[1:], actions=(), rules=BUNDLE.rules[1:]
    )
    kept = await services.catalogue.install(smaller, tenant="default")
    assert (kept.triggers.removed, kept.actions.removed, kept.rules.removed) == ([], [], [])
    pruned = await services.catalogue.install(smaller, tenant="default", prune=True)
    assert pruned == report(
        "ops",
        pack=Changes(unchanged=["ops"]),
        triggers=Changes(unchanged=["ops.page"], removed=["ops.alert"]),
        actions=Changes(removed=["ops.log"]),
        rules=Changes(unchanged=["ops.on_page"], removed=["ops.on_alert"]),
    )
    async with services.db.read() as conn:
        left = [r for (r,) in await conn.execute(select(triggers.c.ref).order_by(triggers.c.ref))]
    assert [r for r in left if r.startswith("ops.")] == ["ops.page"]


async def test_a_failed_install_changes_nothing(services: Services) -> None:
    await services.catalogue.install(BUNDLE, tenant="default")
    other = PackBundle(PackSpec("other", "Other"), rules=(rule("other.r", "ops.alert"),))
    await services.catalogue.install(other, tenant="default")
    # Renamed, without ops.alert and its rule: the rule is pruned first, then another pack's
    # rule blocks the trigger's removal, and the rollback brings back all of it.
    renamed = dataclasses.replace(
        BUNDLE,
        pack=PackSpec("ops", "Renamed"),
        triggers=BUNDLE.triggers[1:],
        rules=BUNDLE.rules[1:],
    )
    with pytest.raises(Conflict) as caught:
        await services.catalogue.install(renamed, tenant="default", prune=True)
    assert caught.value.message == "Trigger 'ops.alert' is used by 1 rule"
    async with services.db.read() as conn:
        pack = await catalogue_store.find_pack(conn, tenant_id=1, ref="ops")
        on_alert = (
            await conn.execute(select(rules.c.id).where(rules.c.ref == "ops.on_alert"))
        ).scalar()
    assert pack is not None
    assert (pack.label, on_alert) == ("Ops", 1)  # neither renamed nor pruned


@pytest.mark.parametrize(
    ("bundle", "error", "message"),
    [
        (
            PackBundle(PackSpec("core", "Mine")),
            Conflict,
            "Pack 'core' is built in and cannot be installed over",
        ),
        (
            PackBundle(PackSpec("p", "P"), rules=(rule("p.r", "p.nothing"),)),
            NotFound,
            "Trigger 'p.nothing' (of rule 'p.r') not found",
        ),
        (
            PackBundle(PackSpec("p", "P"), rules=(rule("p.r", "core.event", "p.nothing"),)),
            NotFound,
            "Action 'p.nothing' (of rule 'p.r') not found",
        ),
        (
            PackBundle(
                PackSpec(
                    "p",
                    "P",
                    config_schema={"type": "object", "required": ["token"]},
                    config={"level": 1},
                )
            ),
            InvalidInput,
            "Invalid request data: config: 'token' is required",
        ),
    ],
)
async def test_refused_installs(
    services: Services, bundle: PackBundle, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        await services.catalogue.install(bundle, tenant="default")
    assert str(caught.value) == message


async def test_an_unknown_tenant(services: Services) -> None:
    with pytest.raises(NotFound) as caught:
        await services.catalogue.install(BUNDLE, tenant="nobody")
    assert caught.value.message == "Tenant 'nobody' not found"


async def test_secret_config_from_a_directory_is_sealed(services: Services, tmp_path: Path) -> None:
    directory = full_pack(tmp_path)
    (directory / "pack.yaml").write_text(
        (directory / "pack.yaml").read_text() + f"  token: {SECRET}\n"
    )
    bundle = read_pack_dir(directory)
    assert (await services.catalogue.install(bundle, tenant="default")).pack.created == ["deploys"]

    # Without the token the stored one is kept, so the file need not hold it.
    without = dataclasses.replace(
        bundle, pack=dataclasses.replace(bundle.pack, config={"channel": "#deploys"})
    )
    again = await services.catalogue.install(without, tenant="default")
    assert again.pack.unchanged == ["deploys"]
    moved = dataclasses.replace(
        bundle, pack=dataclasses.replace(bundle.pack, config={"channel": "#ops"})
    )
    assert (await services.catalogue.install(moved, tenant="default")).pack.updated == ["deploys"]
    async with services.db.read() as conn:
        row = (
            await conn.execute(
                select(packs.c.config, packs.c.secrets).where(packs.c.ref == "deploys")
            )
        ).one()
    assert row.config == {"channel": "#ops"}
    assert services.box.open(row.secrets, purpose=PURPOSE, tenant_id=1) == {"token": SECRET}


async def test_start_restores_the_builtin_packs(services: Services) -> None:
    async with services.db.transaction() as conn:
        await conn.execute(actions.delete().where(actions.c.ref == "core.echo"))
        await conn.execute(
            triggers.update().where(triggers.c.ref == "core.event").values(label="Changed")
        )
    await services.catalogue.ensure_builtin_packs()
    async with services.db.read() as conn:
        echo = await catalogue_store.find_action(conn, tenant_id=1, ref="core.echo")
        event = await catalogue_store.find_trigger(conn, tenant_id=1, ref="core.event")
    assert echo is not None
    assert event is not None
    assert (echo.runner, event.label) == ("echo", "Event")
    before = await version(services)
    await services.catalogue.ensure_builtin_packs()
    assert await version(services) == before
