"""Commands that talk to a running server over its HTTP API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

# Server messages echo user input: never read them as Rich markup, never wrap them.
out = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

Url = Annotated[
    str,
    typer.Option("--url", envvar="TIDINGS_URL", help="Base URL of the Tidings server."),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="TIDINGS_TOKEN",
        help="API key or access token (default: <data-dir>/admin-token).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]
DEFAULT_URL = "http://127.0.0.1:8080"


def _token(token: str | None) -> str:
    if token:
        return token
    path = Path(os.environ.get("TIDINGS_DATA_DIR", "tidings-data")) / "admin-token"
    if path.exists():
        return path.read_text().strip()
    err.print("No credential: pass --token, set TIDINGS_TOKEN, or run where the data dir is.")
    raise typer.Exit(2)


def call(
    method: str,
    url: str,
    path: str,
    token: str | None,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """Send one request; print the error body and exit non-zero on failure."""
    headers = {**(headers or {}), "Authorization": f"Bearer {_token(token)}"}
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, headers=headers, timeout=30, **kwargs
        )
    except httpx.HTTPError as exc:
        err.print(f"Cannot reach {url}: {exc}")
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        err.print(f"Error {response.status_code}: {message}")
        raise typer.Exit(1)
    return None if response.status_code == 204 else response.json()


def _parse_fields(fields: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="--field")
        parsed[key] = int(value) if key in ("priority", "impact", "trigger", "source") else value
    return parsed


def emit(
    event_type: Annotated[str, typer.Argument(help="The event's type (trigger_ref).")],
    payload: Annotated[str, typer.Option(help="Payload as a JSON object.")] = "{}",
    field: Annotated[
        list[str] | None, typer.Option("--field", "-f", help="Another field, KEY=VALUE.")
    ] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Idempotency-Key header.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Record one event."""
    try:
        body_payload = json.loads(payload)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--payload") from None
    body = {"trigger_ref": event_type, "payload": body_payload, **_parse_fields(field or [])}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    answer = call("POST", url, "/api/v1/events", token, json=body, headers=headers)
    if as_json:
        out.print_json(data=answer)
    else:
        event = answer["data"]
        out.print(f"Recorded event {event['id']} ({event['trigger_ref']}) at {event['created']}")


events_app = typer.Typer(help="Read the event log.", no_args_is_help=True)


@events_app.command("list")
def list_events(
    trigger_ref: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    start: Annotated[str | None, typer.Option(help="Earliest time (RFC 3339 or date).")] = None,
    end: Annotated[str | None, typer.Option(help="Latest time (RFC 3339 or date).")] = None,
    page: int = 1,
    per_page: int = 50,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """List events, newest first."""
    params = {
        "page": page,
        "per_page": per_page,
        "trigger_ref": trigger_ref,
        "start": start,
        "end": end,
    }
    answer = call(
        "GET",
        url,
        "/api/v1/events",
        token,
        params={k: v for k, v in params.items() if v is not None},
    )
    if as_json:
        out.print_json(data=answer)
        return
    table = Table("id", "type", "created", "payload")
    for item in answer["data"]:
        table.add_row(
            str(item["id"]),
            item["trigger_ref"],
            item["created"],
            "yes" if item["has_payload"] else "",
        )
    out.print(table)
    p = answer["pagination"]
    if not p["total_items"]:
        out.print("No events match.")
        return
    out.print(f"page {p['page']} of {p['total_pages']} ({p['total_items']} events)")


users_app = typer.Typer(help="Manage users.", no_args_is_help=True)


@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="TIDINGS_NEW_PASSWORD"
        ),
    ],
    role: Annotated[list[str] | None, typer.Option("--role", help="A role to grant.")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="A group to join.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Create a user who logs in with a password."""
    body = {"name": name, "password": password, "roles": role or [], "groups": group or []}
    answer = call("POST", url, "/api/v1/users", token, json=body)
    user = answer["data"]
    out.print(f"Created user {user['name']} ({user['locator']}) roles={','.join(user['roles'])}")


tokens_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Option(help="A label for the key.")],
    account: Annotated[str | None, typer.Option(help="Account to issue it for.")] = None,
    expires_in: Annotated[int | None, typer.Option(help="Lifetime in seconds.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Create an API key; it is printed once."""
    body: dict[str, Any] = {"name": name, "account": account, "expires_in_seconds": expires_in}
    answer = call("POST", url, "/api/v1/tokens", token, json=body)
    key = answer["data"]
    err.print(f"Created key {key['id']} for {key['account']}. It is shown only now:")
    out.print(key["token"])


@tokens_app.command("list")
def list_tokens(
    account: Annotated[str | None, typer.Option(help="Only this account's keys.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """List API keys (never their secrets)."""
    params = {"account": account} if account else None
    answer = call("GET", url, "/api/v1/tokens", token, params=params)
    if as_json:
        out.print_json(data=answer)
        return
    table = Table("id", "name", "account", "prefix", "created", "expires", "revoked")
    for k in answer["data"]:
        table.add_row(
            str(k["id"]),
            k["name"],
            k["account"],
            k["prefix"],
            k["created"],
            k["expires"] or "",
            k["revoked"] or "",
        )
    out.print(table)


@tokens_app.command("revoke")
def revoke_token(
    key_id: Annotated[int, typer.Argument(help="The key's id.")],
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Revoke an API key."""
    answer = call("DELETE", url, f"/api/v1/tokens/{key_id}", token)
    out.print(f"Revoked key {answer['data']['id']} ({answer['data']['name']})")
