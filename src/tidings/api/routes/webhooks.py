"""Inbound webhooks under /api/v1/webhooks: the registry, and the endpoint senders post to.

Mapping only. The registry answers in the rules document's envelopes (`{"data": …}`, with a
`message` on changes, `{"success": true, "message": …}` on delete). A delivery's body is read
here, raw, because a signature covers the exact bytes: JSON (`application/json`,
`application/*+json`) or GitHub's form encoding (`application/x-www-form-urlencoded`, the JSON
in a `payload` field). The authentication middleware lets a delivery without an Authorization
header through only when it carries a signature header; `WebhookAdmin.admit` then verifies it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, RequestIdDep, ServicesDep
from tidings.api.idempotency import IdempotencyKey, claim_of
from tidings.api.routing import JSONRoute
from tidings.domain.access import Principal
from tidings.domain.errors import FieldProblem, InvalidInput, TidingsError
from tidings.domain.events import Event
from tidings.domain.json import JSONObject, depth_exceeds, nul_path
from tidings.domain.pagination import total_pages
from tidings.domain.timestamps import format_rfc3339
from tidings.services.webhooks import (
    NAME_RULE,
    SIGNING_KEY_RULE,
    SavedWebhook,
    Webhook,
    WebhookChanges,
    delivery_key,
    webhook_event,
)

router = APIRouter(tags=["webhooks"], route_class=JSONRoute)

FORM = "application/x-www-form-urlencoded"
_TYPES = f"application/json, application/*+json or {FORM} (a payload field holding the JSON)"
_SECRET_DOC = f"An HMAC secret of your own ({SIGNING_KEY_RULE}); never returned."
_GENERATE_DOC = "Generate a Standard Webhooks secret (whsec_…), returned once in this answer."


class WebhookCreate(BaseModel):
    """A webhook to register."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description=f"The last segment of its URL: {NAME_RULE}.", examples=["github"])
    secret: StrictStr | None = Field(default=None, description=_SECRET_DOC)
    generate_secret: StrictBool = Field(default=False, description=_GENERATE_DOC)
    enabled: StrictBool = True


class WebhookUpdate(BaseModel):
    """Changes to a webhook: only what is given changes; `"secret": null` removes the secret."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None
    secret: StrictStr | None = Field(default=None, description=_SECRET_DOC + " null removes it.")
    generate_secret: StrictBool = Field(default=False, description=_GENERATE_DOC)

    @field_validator("enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the field out to keep it)")
        return value

    def to_changes(self) -> WebhookChanges:
        """The service's input."""
        return WebhookChanges(
            enabled=self.enabled,
            secret=self.secret,
            generate_secret=self.generate_secret,
            remove_secret="secret" in self.model_fields_set and self.secret is None,
        )


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook's view: whether it has a secret, never the secret."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "endpoint": webhook.endpoint,
        "enabled": webhook.enabled,
        "has_secret": webhook.has_secret,
        "created": format_rfc3339(webhook.created_at),
        "updated": format_rfc3339(webhook.updated_at),
    }


def _saved_json(saved: SavedWebhook, message: str) -> dict[str, Any]:
    data = webhook_json(saved.webhook)
    if saved.generated_secret is not None:
        data["secret"] = saved.generated_secret
    return {"data": data, "message": message}


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, media_type="application/json", headers=headers)


@router.get("/api/v1/webhooks", summary="List webhooks")
async def list_webhooks(
    services: ServicesDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """`{"data": [webhooks by name], "pagination": {page, per_page, total, total_pages}}`."""
    result = await services.webhooks.list_webhooks(principal, page=page, per_page=per_page)
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": result.total,
        "total_pages": total_pages(result.total, per_page),
    }
    return _response(
        200, {"data": [webhook_json(w) for w in result.items], "pagination": pagination}
    )


@router.post(
    "/api/v1/webhooks",
    status_code=201,
    summary="Register a webhook",
    responses={409: {"description": "A webhook with this name exists."}},
)
async def create_webhook(
    body: WebhookCreate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Register a name; a generated secret is in this answer's `secret` and never again."""
    saved = await services.webhooks.create_webhook(
        principal,
        name=body.name,
        secret=body.secret,
        generate=body.generate_secret,
        enabled=body.enabled,
    )
    return _response(201, _saved_json(saved, "Webhook created successfully"))


@router.get("/api/v1/webhooks/{name}", summary="Get a webhook")
async def get_webhook(name: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """`{"data": webhook}`, or 404 `Webhook 'x' not found`."""
    webhook = await services.webhooks.get_webhook(principal, name=name)
    return _response(200, {"data": webhook_json(webhook)})


@router.put("/api/v1/webhooks/{name}", summary="Update a webhook")
async def update_webhook(
    name: str, body: WebhookUpdate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Enable or disable it, or set, generate (shown once) or remove its secret."""
    saved = await services.webhooks.update_webhook(principal, name=name, changes=body.to_changes())
    return _response(200, _saved_json(saved, "Webhook updated successfully"))


@router.delete("/api/v1/webhooks/{name}", summary="Delete a webhook")
async def delete_webhook(name: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """`{"success": true, "message": "Webhook 'x' deleted successfully"}`."""
    await services.webhooks.delete_webhook(principal, name=name)
    return _response(200, {"success": True, "message": f"Webhook '{name}' deleted successfully"})


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _kind(document: object) -> str:
    if isinstance(document, list):
        return "an array"
    if isinstance(document, str):
        return "a string"
    if isinstance(document, bool):
        return "a boolean"
    return "null" if document is None else "a number"


def _form_payload(body: bytes) -> bytes:
    """GitHub's form encoding: the JSON document is the one `payload` field."""
    try:
        fields = parse_qs(
            body.decode("ascii"), strict_parsing=True, errors="strict", max_num_fields=100
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput.of(FieldProblem("body", "is not a valid form-encoded body")) from None
    values = fields.get("payload", [])
    if len(values) != 1:
        problem = FieldProblem("payload", "a form-encoded body needs exactly one payload field")
        raise InvalidInput.of(problem)
    return values[0].encode()


def delivery_payload(body: bytes, content_type: str | None, *, max_depth: int) -> JSONObject:
    """The JSON object a delivery carries, or a 400/415 naming what is wrong with it."""
    media = _media_type(content_type)
    where = "body"
    if media == FORM:
        body, where = _form_payload(body), "payload"
    elif not (
        media == "application/json"
        or (media.startswith("application/") and media.endswith("+json"))
    ):
        raise TidingsError(f"Content-Type must be {_TYPES}", 415)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput.of(FieldProblem(where, "is not valid JSON")) from None
    if not isinstance(document, dict):
        raise InvalidInput.of(FieldProblem(where, f"must be a JSON object, got {_kind(document)}"))
    if (path := nul_path(document)) is not None:
        problem = FieldProblem(path, "must not contain the NUL character (\\u0000)")
        raise InvalidInput.of(problem)
    if depth_exceeds(document, max_depth):
        raise InvalidInput.of(FieldProblem(where, f"nests deeper than {max_depth} levels"))
    return document


# Read raw (a signature covers the exact bytes), so it is declared here rather than by a model.
_DELIVERY_BODY = {
    "required": True,
    "description": f"A JSON object, sent as {_TYPES}; it becomes the event's payload.",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def _receipt(stored: list[Event]) -> tuple[int, bytes]:
    return 201, orjson.dumps({"data": {"id": stored[0].id, "trigger_ref": stored[0].type}})


@router.post(
    "/api/v1/webhooks/{name}",
    status_code=201,
    summary="Receive a webhook delivery",
    openapi_extra={"requestBody": _DELIVERY_BODY},
    responses={
        201: {
            "description": '`{"data": {"id": <event id>, "trigger_ref": "core.webhook_received"}}`.'
        },
        401: {"description": "No bearer token and no valid signature."},
        403: {"description": "The webhook is disabled, or the token lacks events:write."},
        404: {"description": "No webhook of this name in the tenant."},
    },
)
async def receive_delivery(
    name: str,
    request: Request,
    services: ServicesDep,
    request_id: RequestIdDep,
    tenant: Annotated[
        str | None,
        Query(max_length=100, description="The tenant's locator, for signed deliveries only."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record the body as a `core.webhook_received` event: with a token, or signed."""
    token_holder = request.scope.get("state", {}).get("principal")
    body = await request.body()
    sender = await services.webhooks.admit(
        principal=token_holder if isinstance(token_holder, Principal) else None,
        name=name,
        tenant_locator=tenant,
        body=body,
        headers=request.headers,
    )
    payload = delivery_payload(
        body, request.headers.get("content-type"), max_depth=services.settings.max_payload_depth
    )
    key = idempotency_key or delivery_key(name, request.headers)
    outcome = await services.ingest.ingest(
        principal=sender,
        new_events=[webhook_event(name, payload, request.headers)],
        request_id=request_id,
        render=_receipt,
        claim=await claim_of(request, sender, key),
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return _response(outcome.status_code, outcome.body, headers)
