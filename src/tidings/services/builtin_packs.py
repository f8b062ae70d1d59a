"""The built-in packs every tenant has: `core` (standard triggers and actions) and `slack`.

They are definitions in code, put into each tenant's catalogue when the tenant is provisioned and
again at every start (so a new release's changes reach existing tenants); both are idempotent.
Their triggers and actions are read-only through the API; their config (slack's `webhook_url`)
is the tenant's to set. Payload schemas describe the fields without requiring them, so producers
and the schedules that emit the timer events are never refused for a field they leave out.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.domain.json import JSONObject
from tidings.services.pack_definitions import ActionSpec, PackBundle, PackSpec, TriggerSpec
from tidings.services.pack_install import sync_bundle

VERSION = "1.0.0"


def _object(properties: JSONObject, *, required: list[str] | None = None) -> JSONObject:
    schema: JSONObject = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _closed(properties: JSONObject, *, required: list[str] | None = None) -> JSONObject:
    return {**_object(properties, required=required), "additionalProperties": False}


_TEXT: JSONObject = {"type": "string"}
# Described, not constrained: the schedules decide what their events carry.
_TIMER_PAYLOAD = _object(
    {
        "schedule": {"description": "The schedule's name."},
        "group": {"description": "The schedule's group."},
        "schedule_id": {"description": "The schedule's id."},
        "scheduled_for": {"description": "The time the schedule was due."},
        "fired_at": {"description": "When it fired."},
        "policy_locator": {"description": "The schedule's policy, when it has one."},
        "transaction_locator": {"description": "The schedule's transaction, when it has one."},
        "custom_event_id": {"description": "The schedule's custom event, when it has one."},
    }
)
# No `default`: an action's own timeout (the execution's) applies; this can only shorten it.
_TIMEOUT: JSONObject = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 3600,
    "description": "Seconds; at most the execution's own timeout, which applies when unset.",
}

CORE = PackBundle(
    pack=PackSpec(
        ref="core",
        label="Core",
        description="The standard triggers and actions of Tidings.",
        version=VERSION,
    ),
    triggers=(
        TriggerSpec(
            ref="core.webhook_received",
            label="Webhook received",
            description=(
                "A request arrived at an inbound webhook (POST /api/v1/webhooks/{name}): the "
                "payload is its JSON body; config holds endpoint, method, webhook and the "
                "sender's identifying headers."
            ),
            payload_schema={"type": "object"},
        ),
        TriggerSpec(
            ref="core.event",
            label="Event",
            description="A generic event; its payload is any JSON object.",
            payload_schema={"type": "object"},
        ),
        TriggerSpec(
            ref="core.cron_timer",
            label="Cron timer",
            description="A schedule with a cron expression fired.",
            payload_schema=_TIMER_PAYLOAD,
        ),
        TriggerSpec(
            ref="core.interval_timer",
            label="Interval timer",
            description="A schedule that repeats at a fixed interval fired.",
            payload_schema=_TIMER_PAYLOAD,
        ),
        TriggerSpec(
            ref="core.date_timer",
            label="Date timer",
            description="A one-shot schedule fired at its date.",
            payload_schema=_TIMER_PAYLOAD,
        ),
    ),
    actions=(
        ActionSpec(
            ref="core.noop",
            label="No operation",
            runner="noop",
            description="Does nothing and succeeds; any parameters are accepted and ignored.",
            parameters_schema={"type": "object"},
        ),
        ActionSpec(
            ref="core.echo",
            label="Echo",
            runner="echo",
            description="Succeeds with its parameters as the result.",
            parameters_schema=_object(
                {"message": {"description": "Any JSON value to echo."}}, required=["message"]
            ),
        ),
        ActionSpec(
            ref="core.http_request",
            label="HTTP request",
            runner="http_request",
            description="Sends an HTTP request; a 2xx response is success.",
            parameters_schema=_closed(
                {
                    "method": {
                        "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                        "default": "GET",
                    },
                    "url": {"type": "string", "pattern": "^https?://"},
                    "headers": {"type": "object", "additionalProperties": _TEXT},
                    "body": {"description": "A string is sent as is; other JSON as JSON."},
                    "timeout": _TIMEOUT,
                },
                required=["url"],
            ),
        ),
        ActionSpec(
            ref="core.emit_event",
            label="Emit event",
            runner="emit_event",
            description="Records a new event. Any other field of POST /api/v1/events may be "
            "given too.",
            parameters_schema=_object(
                {
                    "trigger_ref": {"type": "string", "minLength": 1},
                    "payload": {"type": "object"},
                    "title": _TEXT,
                    "message": _TEXT,
                },
                required=["trigger_ref"],
            ),
        ),
        ActionSpec(
            ref="core.local_command",
            label="Local command",
            runner="local_command",
            description="Runs a program on the worker's host (only where the operator enables "
            "it); no shell is involved. A zero exit status is success.",
            parameters_schema=_closed(
                {
                    "argv": {"type": "array", "items": _TEXT, "minItems": 1},
                    "timeout": _TIMEOUT,
                },
                required=["argv"],
            ),
        ),
    ),
)

SLACK = PackBundle(
    pack=PackSpec(
        ref="slack",
        label="Slack",
        description="Messages to Slack through an incoming webhook.",
        version=VERSION,
        config_schema=_closed(
            {
                "webhook_url": {
                    "type": "string",
                    "pattern": "^https?://",
                    "secret": True,
                    "description": "The incoming webhook's URL, used when a message names none.",
                }
            }
        ),
    ),
    actions=(
        ActionSpec(
            ref="slack.send_message",
            label="Send a Slack message",
            runner="slack",
            description="Posts a message in Slack's incoming-webhook format to `webhook_url` "
            "(from the parameters, else from the pack config). Other parameters are ignored.",
            parameters_schema={
                **_object(
                    {
                        "text": _TEXT,
                        "message": {"type": "string", "description": "Used when text is absent."},
                        "blocks": {"type": "array"},
                        "attachments": {"type": "array"},
                        "channel": _TEXT,
                        "username": _TEXT,
                        "icon_emoji": _TEXT,
                        "icon_url": _TEXT,
                        "thread_ts": _TEXT,
                        "webhook_url": {"type": "string", "pattern": "^https?://"},
                    }
                ),
                "anyOf": [
                    {"required": ["text"]},
                    {"required": ["message"]},
                    {"required": ["blocks"]},
                    {"required": ["attachments"]},
                ],
            },
        ),
    ),
)

BUILTIN_PACKS = (CORE, SLACK)
# The triggers and actions Tidings ships: read-only. Users may add their own to these packs
# (001_…txt's own example uses a `core.error_event` trigger), and those stay theirs to change.
SHIPPED_REFS = frozenset(t.ref for b in BUILTIN_PACKS for t in b.triggers) | frozenset(
    a.ref for b in BUILTIN_PACKS for a in b.actions
)


async def ensure_builtin_packs(conn: AsyncConnection, *, tenant_id: int, now: int) -> bool:
    """Put the built-in packs into the tenant's catalogue as defined; whether anything changed."""
    changed = False
    for bundle in BUILTIN_PACKS:
        report = await sync_bundle(
            conn, tenant_id=tenant_id, bundle=bundle, now=now, box=None, builtin=True
        )
        changed = changed or report.changed
    return changed
