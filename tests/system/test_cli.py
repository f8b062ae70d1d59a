"""The `tidings` command as a user runs it: a real subprocess talking to a live server.

Every command runs as `python -m tidings …` in a session of its own (no controlling terminal, so a
password prompt reads standard input), and what it did is checked through the HTTP API.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.system.conftest import LiveServer, free_port

pytestmark = pytest.mark.system

API_KEY = re.compile(r"tdg_[A-Za-z0-9_-]{40}")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PASSWORD = "correct horse battery staple"
REVOKED_KEY_ERROR = {"error": "Invalid or revoked API key", "status": 401}


def tidings(
    *args: str, env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tidings ARGS` without a controlling terminal; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        check=False,
    )


def one_line(text: str) -> str:
    """The text with runs of whitespace collapsed (Rich wraps long lines at the console width)."""
    return " ".join(text.split())


def plain_env(**extra: str) -> dict[str, str]:
    """This process's environment without any TIDINGS_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    return {**env, "TIDINGS_LOG_LEVEL": "warning", **extra}


def client_env(server: LiveServer, **extra: str) -> dict[str, str]:
    """What a CLI user pointing at `server` as its admin has in the environment."""
    env = {k: v for k, v in server.env().items() if k not in ("TIDINGS_NEW_PASSWORD",)}
    return {**env, "TIDINGS_URL": server.url, "TIDINGS_TOKEN": ADMIN_TOKEN, **extra}


def bearer(token: str) -> dict[str, str]:
    """Authorization header for a credential."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client of the live server, as its admin."""
    with httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=10) as http:
        yield http


def commands_in_help(output: str) -> list[str]:
    """Command names listed in a Typer/Rich help screen, in order."""
    return re.findall(r"^\W ([a-z]+)\s{2,}\S", output, flags=re.MULTILINE)


def test_help_lists_every_command() -> None:
    top = tidings("--help", env=plain_env())
    assert (top.returncode, top.stderr) == (0, "")
    assert "Tidings: a durable, queryable, access-controlled event log." in top.stdout
    assert commands_in_help(top.stdout) == [
        "serve",
        "worker",
        "scheduler",
        "migrate",
        "emit",
        "events",
        "users",
        "tokens",
        "packs",
    ]
    groups = {
        name: tidings(name, "--help", env=plain_env()) for name in ("events", "users", "tokens")
    }
    assert {name: (r.returncode, commands_in_help(r.stdout)) for name, r in groups.items()} == {
        "events": (0, ["list"]),
        "users": (0, ["create"]),
        "tokens": (0, ["create", "list", "revoke"]),
    }


def test_migrate_provisions_a_new_data_dir_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    token_file = data_dir / "admin-token"

    first = tidings("migrate", "--data-dir", str(data_dir), env=plain_env())
    assert (first.returncode, first.stdout) == (0, "")
    assert (data_dir / "tidings.db").is_file()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    content = token_file.read_text()
    secret = content.strip()
    assert content == secret + "\n"
    assert API_KEY.fullmatch(secret)
    assert first.stderr.count(secret) == 1  # shown once, on a line of its own
    assert f"  {secret}" in first.stderr.splitlines()
    assert one_line(first.stderr).startswith(
        "New database: created tenant 'default' and service account 'admin'. "
        "Admin API key (shown once, also saved to "
    )
    assert first.stderr.endswith("\nDatabase is up to date.\n")

    second = tidings("migrate", "--data-dir", str(data_dir), env=plain_env())
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "Database is up to date.\n")
    assert token_file.read_text() == content

    # The saved key is the admin's; the server's TIDINGS_ADMIN_TOKEN only applies to new databases.
    server = LiveServer(data_dir=data_dir)
    server.start()
    try:
        me = httpx.get(server.url + "/api/v1/auth/me", headers=bearer(secret), timeout=10)
        assert (me.status_code, me.json()["data"]["name"], me.json()["data"]["kind"]) == (
            200,
            "admin",
            "service",
        )
        other = httpx.get(server.url + "/api/v1/auth/me", headers=server.headers, timeout=10)
        assert other.status_code == 401
        # Without --token or TIDINGS_TOKEN the CLI uses <TIDINGS_DATA_DIR>/admin-token.
        env = client_env(server)
        del env["TIDINGS_TOKEN"]
        listed = tidings("events", "list", "--json", env=env)
        assert (listed.returncode, listed.stderr) == (0, "")
        assert json.loads(listed.stdout) == {
            "data": [],
            "pagination": {
                "page": 1,
                "page_size": 50,
                "total_items": 0,
                "total_pages": 0,
                "next_cursor": None,
            },
        }
    finally:
        server.stop()


def test_migrate_with_a_chosen_admin_token_saves_no_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = tidings(
        "migrate", "--data-dir", str(data_dir), env=plain_env(TIDINGS_ADMIN_TOKEN=ADMIN_TOKEN)
    )
    assert (result.returncode, result.stdout) == (0, "")
    assert one_line(result.stderr) == (
        "New database: the admin API key is the value of TIDINGS_ADMIN_TOKEN. "
        "Database is up to date."
    )
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith("tidings.db")) == [
        "secret-key"
    ]


def test_emit_records_the_event_with_its_fields(live_server: LiveServer, api: httpx.Client) -> None:
    env = client_env(live_server)
    # Longer than a console line: --json output must stay one valid JSON document.
    payload = {"version": "2.1.0", "notes": "n" * 150, "checks": {"passed": True, "count": 3}}
    emitted = tidings(
        "emit",
        "deployment",
        "--payload",
        json.dumps(payload),
        "-f",
        "service=user-service",
        "--field",
        "environment=production",
        "-f",
        "priority=2",
        "--json",
        env=env,
    )
    assert (emitted.returncode, emitted.stderr) == (0, "")
    printed = json.loads(emitted.stdout)["data"]
    stored = api.get(f"/api/v1/events/{printed['id']}").json()["data"]
    assert stored == printed
    assert {k: stored[k] for k in ("trigger_ref", "payload", "service", "environment")} == {
        "trigger_ref": "deployment",
        "payload": payload,
        "service": "user-service",
        "environment": "production",
    }
    assert (stored["priority"], stored["impact"], stored["title"]) == (2, None, None)

    plain = tidings("emit", "core.webhook_received", env=env)
    assert (plain.returncode, plain.stderr) == (0, "")
    match = re.fullmatch(
        r"Recorded event (\d+) \(core\.webhook_received\) at (\S+)\n", plain.stdout
    )
    assert match is not None, plain.stdout
    second = api.get(f"/api/v1/events/{match[1]}").json()["data"]
    assert (second["trigger_ref"], second["payload"], second["created"]) == (
        "core.webhook_received",
        {},
        match[2],
    )


def test_emit_with_an_idempotency_key_stores_once(
    live_server: LiveServer, api: httpx.Client
) -> None:
    env = client_env(live_server)
    args = ("emit", "cli.idempotent", "--payload", '{"n": 1}', "--idempotency-key", "k-1")
    first = tidings(*args, "--json", env=env)
    again = tidings(*args, "--json", env=env)
    assert (first.returncode, again.returncode) == (0, 0)
    assert again.stdout == first.stdout
    listed = api.get("/api/v1/events", params={"trigger_ref": "cli.idempotent"}).json()
    assert [item["id"] for item in listed["data"]] == [json.loads(first.stdout)["data"]["id"]]

    reused = tidings(
        "emit", "cli.idempotent", "--payload", '{"n": 2}', "--idempotency-key", "k-1", env=env
    )
    conflict = api.post(
        "/api/v1/events",
        json={"trigger_ref": "cli.idempotent", "payload": {"n": 2}},
        headers={"Idempotency-Key": "k-1"},
    )
    assert reused.returncode == 1
    assert one_line(reused.stderr) == f"Error {conflict.status_code}: {conflict.json()['error']}"


def test_emit_refuses_bad_input(live_server: LiveServer, api: httpx.Client) -> None:
    env = client_env(live_server)
    not_json = tidings("emit", "deployment", "--payload", "{nope", env=env)
    assert not_json.returncode == 2
    assert "Invalid value for --payload: not JSON:" in one_line(not_json.stderr)

    bad_type = tidings("emit", "not a type!", env=env)
    expected = api.post("/api/v1/events", json={"trigger_ref": "not a type!", "payload": {}})
    assert expected.status_code == 400
    assert (bad_type.returncode, bad_type.stdout) == (1, "")
    assert one_line(bad_type.stderr) == one_line(f"Error 400: {expected.json()['error']}")
    assert api.get("/api/v1/events").json()["pagination"]["total_items"] == 0


def test_events_list_json_and_table(live_server: LiveServer, api: httpx.Client) -> None:
    env = client_env(live_server)
    api.post("/api/v1/events", json={"trigger_ref": "cli.other"}).raise_for_status()
    ids = []
    for n in range(3):
        created = api.post("/api/v1/events", json={"trigger_ref": "cli.list", "payload": {"n": n}})
        ids.append(created.json()["data"]["id"])

    page1 = tidings("events", "list", "--type", "cli.list", "--per-page", "2", "--json", env=env)
    assert (page1.returncode, page1.stderr) == (0, "")
    answer1 = json.loads(page1.stdout)
    assert [item["id"] for item in answer1["data"]] == [ids[2], ids[1]]
    assert {k: v for k, v in answer1["pagination"].items() if k != "next_cursor"} == {
        "page": 1,
        "page_size": 2,
        "total_items": 3,
        "total_pages": 2,
    }
    # The CLI prints the server's answer unchanged.
    direct = api.get("/api/v1/events", params={"trigger_ref": "cli.list", "per_page": 2})
    assert answer1 == direct.json()

    page2 = tidings(
        "events", "list", "--type", "cli.list", "--per-page", "2", "--page", "2", "--json", env=env
    )
    answer2 = json.loads(page2.stdout)
    assert [item["id"] for item in answer2["data"]] == [ids[0]]
    assert answer2["pagination"]["next_cursor"] is None

    table = tidings("events", "list", "--type", "cli.list", env=env)
    assert (table.returncode, table.stderr) == (0, "")
    rows = re.findall(r"^\W\s*(\d+)\s+\W\s*cli\.list\s", table.stdout, flags=re.MULTILINE)
    assert [int(r) for r in rows] == [ids[2], ids[1], ids[0]]
    assert table.stdout.splitlines()[-1] == "page 1 of 1 (3 events)"


def login(api: httpx.Client, username: str, password: str) -> httpx.Response:
    """POST /api/v1/auth/login without the admin's credentials."""
    return api.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        headers={"Authorization": ""},
    )


@pytest.mark.parametrize("source", ["option", "environment", "prompt"])
def test_users_create_then_the_user_logs_in(
    live_server: LiveServer, api: httpx.Client, source: str
) -> None:
    env = client_env(live_server)
    args = ["users", "create", "alice", "--role", "reader"]
    stdin = None
    if source == "option":
        args += ["--password", PASSWORD]
    elif source == "environment":
        env["TIDINGS_NEW_PASSWORD"] = PASSWORD
    else:
        stdin = f"{PASSWORD}\n{PASSWORD}\n"  # asked twice: the confirmation must match
    created = tidings(*args, env=env, stdin=stdin)
    assert created.returncode == 0, created.stderr
    match = re.search(rf"Created user alice \(({UUID})\) roles=reader\n$", created.stdout)
    assert match is not None, created.stdout
    assert PASSWORD not in created.stdout + created.stderr

    wrong = login(api, "alice", PASSWORD + "x")
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"error": "Invalid username or password", "status": 401},
    )
    ok = login(api, "alice", PASSWORD)
    assert ok.status_code == 200, ok.text
    tokens = ok.json()["data"]
    assert tokens["token_type"] == "Bearer"
    me = api.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).json()["data"]
    assert {k: me[k] for k in ("name", "kind", "locator", "roles")} == {
        "name": "alice",
        "kind": "user",
        "locator": match[1],
        "roles": ["reader"],
    }

    # The CLI works with the user's access token too, and relays the server's refusal.
    refused = tidings("emit", "deployment", "--token", tokens["access_token"], env=env)
    expected = api.post(
        "/api/v1/events",
        json={"trigger_ref": "deployment"},
        headers=bearer(tokens["access_token"]),
    )
    assert expected.status_code == 403
    assert (refused.returncode, refused.stdout) == (1, "")
    assert one_line(refused.stderr) == one_line(f"Error 403: {expected.json()['error']}")


def test_users_create_refuses_a_mismatched_confirmation(
    live_server: LiveServer, api: httpx.Client
) -> None:
    env = client_env(live_server)
    result = tidings("users", "create", "bob", env=env, stdin=f"{PASSWORD}\n{PASSWORD}!\n")
    assert result.returncode == 1
    assert "Error: The two entered values do not match." in result.stdout + result.stderr
    users = api.get("/api/v1/users").json()["data"]
    assert [u["name"] for u in users] == []


def key_entry(listing: dict[str, Any], key_id: int) -> dict[str, Any]:
    """The one key with this id in a `tokens list --json` answer."""
    matching = [k for k in listing["data"] if k["id"] == key_id]
    assert len(matching) == 1, listing
    return dict(matching[0])


def test_tokens_create_list_and_revoke(live_server: LiveServer, api: httpx.Client) -> None:
    env = client_env(live_server)
    created = tidings("tokens", "create", "--name", "ci-key", env=env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n"  # stdout is the key alone: `KEY=$(tidings tokens …)`
    assert API_KEY.fullmatch(secret)
    notice = re.fullmatch(
        r"Created key (\d+) for admin\. It is shown only now:", one_line(created.stderr)
    )
    assert notice is not None, created.stderr
    key_id = int(notice[1])
    me = api.get("/api/v1/auth/me", headers=bearer(secret))
    assert (me.status_code, me.json()["data"]["name"]) == (200, "admin")

    listed = tidings("tokens", "list", "--json", env=env)
    assert (listed.returncode, listed.stderr) == (0, "")
    assert secret not in listed.stdout
    listing = json.loads(listed.stdout)
    assert listing == api.get("/api/v1/tokens").json()
    entry = key_entry(listing, key_id)
    assert {k: v for k, v in entry.items() if k != "created"} == {
        "id": key_id,
        "name": "ci-key",
        "account": "admin",
        "prefix": secret[:10],
        "expires": None,
        "revoked": None,
    }
    assert sorted(k["prefix"] for k in listing["data"]) == sorted([ADMIN_TOKEN[:10], secret[:10]])

    assert api.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 200  # now cached
    revoked = tidings("tokens", "revoke", str(key_id), env=env)
    assert (revoked.returncode, revoked.stdout, revoked.stderr) == (
        0,
        f"Revoked key {key_id} (ci-key)\n",
        "",
    )
    deadline = time.monotonic() + 1.5  # credentials are cached for at most 1 s
    status = 200
    while status == 200 and time.monotonic() < deadline:
        answer = api.get("/api/v1/auth/me", headers=bearer(secret))
        status = answer.status_code
        time.sleep(0.05)
    assert (answer.status_code, answer.json()) == (401, REVOKED_KEY_ERROR)
    assert api.get("/api/v1/events", headers=bearer(secret)).status_code == 401

    after = json.loads(tidings("tokens", "list", "--json", env=env).stdout)
    assert after == api.get("/api/v1/tokens").json()
    assert key_entry(after, key_id)["revoked"] is not None

    refused = tidings("events", "list", "--token", secret, env=env)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert one_line(refused.stderr) == "Error 401: Invalid or revoked API key"


def test_cli_errors_name_the_cause(live_server: LiveServer, tmp_path: Path) -> None:
    env = client_env(live_server)
    bad_token = tidings("events", "list", "--token", "tdg_not-a-real-key", env=env)
    assert (bad_token.returncode, bad_token.stdout) == (1, "")
    assert one_line(bad_token.stderr) == "Error 401: Invalid or revoked API key"

    missing = tidings("tokens", "revoke", "999", env=env)
    assert (missing.returncode, one_line(missing.stderr)) == (1, "Error 404: API key 999 not found")

    port = free_port()
    unreachable = tidings("events", "list", "--url", f"http://127.0.0.1:{port}", env=env)
    assert unreachable.returncode == 1
    assert one_line(unreachable.stderr).startswith(f"Cannot reach http://127.0.0.1:{port}: ")

    no_credential_env = client_env(live_server, TIDINGS_DATA_DIR=str(tmp_path / "empty"))
    del no_credential_env["TIDINGS_TOKEN"]
    no_credential = tidings("events", "list", env=no_credential_env)
    assert (no_credential.returncode, one_line(no_credential.stderr)) == (
        2,
        "No credential: pass --token, set TIDINGS_TOKEN, or run where the data dir is.",
    )


def test_server_messages_are_printed_verbatim(live_server: LiveServer) -> None:
    """Square brackets in user input are not Rich markup: the server's words come out unchanged."""
    env = client_env(live_server)
    made = tidings("tokens", "create", "--name", "[/oops]", env=env)
    assert made.returncode == 1
    assert "Traceback" not in made.stderr
    assert one_line(made.stderr).startswith("Error 400: Invalid request data: name: '[/oops]'")
    emitted = tidings("emit", "deploy", "-f", "[bold]=1", env=env)
    assert emitted.returncode == 1
    assert one_line(emitted.stderr) == "Error 400: Invalid request data: [bold]: unknown field"
