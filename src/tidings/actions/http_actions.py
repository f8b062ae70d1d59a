"""`http_request` and `slack`: outgoing HTTP through the guarded client (DESIGN.md, "Outgoing
requests").

Every request carries `Idempotency-Key: <tenant>-<execution id>` and `X-Tidings-Execution-Id`,
the same on every attempt: a worker that crashed after sending but before recording the outcome
sends again, and the receiver can tell the second delivery from a new one. A status outside 2xx
is a failure; 5xx, 429 and failures to get any response are worth retrying, other statuses are
not (the request itself is wrong, and will be wrong again).
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import orjson

from tidings.actions.guarded_http import HttpResult, OutgoingRequestError
from tidings.actions.runner import (
    ActionContext,
    ActionFailed,
    number_parameter,
    text_parameter,
)
from tidings.domain.json import JSONObject, JSONValue

EXECUTION_HEADER = "X-Tidings-Execution-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Kinds of OutgoingRequestError that another attempt cannot change.
_PERMANENT = frozenset({"refused", "invalid"})
_SLACK_TEXTS = ("channel", "username", "icon_emoji", "icon_url", "thread_ts")
_SLACK_LISTS = ("blocks", "attachments")


def _retryable_status(status: int) -> bool:
    return status >= 500 or status == 429


def _headers(ctx: ActionContext, given: JSONValue) -> dict[str, str]:
    """Ours, then the caller's; a caller's own Idempotency-Key wins over ours."""
    if given is None:
        given = {}
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise ActionFailed("parameter 'headers' must map names to strings", retryable=False)
    headers: dict[str, str] = {}
    names = {name.lower() for name in given}
    for name, value in (
        (IDEMPOTENCY_HEADER, ctx.idempotency_key),
        (EXECUTION_HEADER, str(ctx.execution_id)),
    ):
        if name.lower() not in names:
            headers[name] = value
    headers.update({k: v for k, v in given.items() if isinstance(v, str)})
    return headers


def _body(value: JSONValue, headers: dict[str, str]) -> bytes | None:
    """A string is sent as UTF-8; any other JSON value as JSON (with its content type)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if "content-type" not in {name.lower() for name in headers}:
        headers["Content-Type"] = "application/json"
    return orjson.dumps(value)


def _timeout(ctx: ActionContext) -> float:
    requested = number_parameter(ctx, "timeout")
    return ctx.timeout_seconds if requested is None else min(requested, ctx.timeout_seconds)


async def _send(
    ctx: ActionContext, method: str, url: str, headers: dict[str, str], body: bytes | None
) -> HttpResult:
    try:
        return await ctx.http.request(
            method, url, headers=headers, body=body, timeout_seconds=_timeout(ctx)
        )
    except OutgoingRequestError as exc:
        raise ActionFailed(str(exc), retryable=exc.kind not in _PERMANENT) from exc


def _describe(result: HttpResult) -> JSONObject:
    """A response as a JSON result: status, headers, the captured body as text, and the body
    parsed when it is complete JSON."""
    described: JSONObject = {
        "status": result.status,
        "headers": dict(result.headers),
        "body": result.body.decode("utf-8", errors="replace"),
        "truncated": result.truncated,
        "elapsed_ms": round(result.elapsed_ms, 3),
    }
    content_type = result.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not result.truncated and (
        content_type == "application/json" or content_type.endswith("+json")
    ):
        with contextlib.suppress(orjson.JSONDecodeError):
            described["json"] = orjson.loads(result.body)
    return described


def _judge(result: HttpResult, where: str) -> JSONObject:
    described = _describe(result)
    if 200 <= result.status < 300:
        return described
    raise ActionFailed(
        f"{where} answered HTTP {result.status}",
        retryable=_retryable_status(result.status),
        result=described,
    )


async def run_http_request(ctx: ActionContext) -> JSONValue:
    """Send one HTTP request: `method` (GET), `url`, `headers`, `body`, `timeout` (seconds)."""
    url = text_parameter(ctx, "url", required=True)
    assert url is not None
    method = text_parameter(ctx, "method") or "GET"
    headers = _headers(ctx, ctx.parameters.get("headers"))
    body = _body(ctx.parameters.get("body"), headers)
    result = await _send(ctx, method, url, headers, body)
    return _judge(result, urlsplit(url).hostname or "the server")


async def run_slack(ctx: ActionContext) -> JSONValue:
    """Post a message in Slack's incoming-webhook format to `webhook_url` (or the pack's)."""
    url = text_parameter(ctx, "webhook_url")
    if url is None:
        configured = (await ctx.pack_config()).get("webhook_url")
        if not isinstance(configured, str) or not configured:
            raise ActionFailed(
                "no Slack webhook URL: set parameter 'webhook_url' or the pack config's "
                "'webhook_url'",
                retryable=False,
            )
        url = configured
    message = _slack_message(ctx)
    headers = _headers(ctx, None)
    headers["Content-Type"] = "application/json"
    result = await _send(ctx, "POST", url, headers, orjson.dumps(message))
    # The URL is the webhook's credential: never name it, only the service.
    return _judge(result, "Slack")


def _slack_message(ctx: ActionContext) -> JSONObject:
    """Slack's incoming-webhook body: `text` (or `message`), Block Kit `blocks`, legacy
    `attachments`, and the optional overrides; other parameters are ignored."""
    message: JSONObject = {}
    text = text_parameter(ctx, "text") or text_parameter(ctx, "message")
    if text is not None:
        message["text"] = text
    for name in _SLACK_TEXTS:
        value = text_parameter(ctx, name)
        if value is not None:
            message[name] = value
    for name in _SLACK_LISTS:
        items = ctx.parameters.get(name)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ActionFailed(f"parameter '{name}' must be a list", retryable=False)
        message[name] = items
    if not any(name in message for name in ("text", *_SLACK_LISTS)):
        raise ActionFailed(
            "parameter 'text' (or 'message', 'blocks' or 'attachments') is required",
            retryable=False,
        )
    return message
