"""Subscriptions and their deliveries under /api/v1: mapping only.

`/api/v1/subscriptions` (list, create, get, replace, delete, rotate the signing secret) answers
in the rules document's envelopes (`{"data": …}`, a `message` on changes, `{"success": true,
"message": …}` on delete); a subscription's deliveries list as executions do (newest first,
`next_cursor`). `/api/v1/deliveries/{id}` is one delivery with its attempts, and `…/resend`
delivers its event again. A generated signing secret is in the answer that created it (or
rotated it) under `secret`, and in no other.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.responses import Response

from tidings.api.attune_pages import list_body
from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.executions import detail_json, summary_json
from tidings.domain.json import JSONObject
from tidings.domain.pagination import total_pages
from tidings.domain.subscriptions import SubscriptionSpec
from tidings.domain.timestamps import format_rfc3339
from tidings.services.subscriptions import (
    SavedSubscription,
    Subscription,
    effective_policy,
)
from tidings.storage.execution_history import ExecutionFilter

router = APIRouter(tags=["subscriptions"], route_class=JSONRoute)

MAX_ID = 2**63 - 1
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID)]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]
_TARGETS = "webhook (a URL we POST signed JSON to), slack (an incoming-webhook URL) or email"


class FilterBody(BaseModel):
    """Which events: all parts optional, all must hold."""

    model_config = ConfigDict(extra="forbid")

    types: list[StrictStr] = Field(
        default_factory=list, description="Event types, exact or `prefix.*`", max_length=100
    )
    scope: dict[str, list[StrictStr | int]] = Field(
        default_factory=dict,
        description="Dimension → accepted values (project, environment, service, …)",
    )
    condition: Any = Field(default=None, description="A JsonLogic condition, as in rules")


class SubscriptionBody(BaseModel):
    """A subscription: its target, its filter, and how it retries."""

    model_config = ConfigDict(extra="forbid")

    target: StrictStr = Field(description=_TARGETS, examples=["webhook"])
    name: StrictStr | None = None
    url: StrictStr | None = Field(default=None, description="webhook and slack targets")
    addresses: list[StrictStr] = Field(
        default_factory=list, max_length=50, description="email targets"
    )
    slack_username: StrictStr | None = Field(default=None, max_length=255)
    slack_icon: StrictStr | None = Field(
        default=None, max_length=255, description="An emoji (:bell:) or an image URL"
    )
    filter: FilterBody = Field(default_factory=FilterBody)
    retry_schedule: list[float] | None = Field(
        default=None,
        description="Seconds before each attempt (the first is the first attempt's); default "
        "0, 5, 300, 1800, 7200, 18000, 36000, 36000, each ±20%",
    )
    disable_after_seconds: float | None = Field(
        default=None, description="Disable after failing this long without a success (5 days)"
    )
    notification_channel: StrictStr | None = Field(
        default=None,
        description="slack or email: this target receives the Tracker events that ask for "
        "that channel (`attributes.notifications`)",
    )
    enabled: StrictBool = True
    secret: StrictStr | None = Field(
        default=None,
        description="webhook: a whsec_ signing secret of your own; without one, one is "
        "generated and returned once",
    )

    def to_spec(self) -> SubscriptionSpec:
        """The service's input."""
        document: JSONObject = {}
        if self.filter.types:
            document["types"] = list(self.filter.types)
        if self.filter.scope:
            document["scope"] = {k: list(v) for k, v in self.filter.scope.items()}
        if self.filter.condition is not None:
            document["condition"] = self.filter.condition
        return SubscriptionSpec(
            target=self.target,
            url=self.url,
            addresses=tuple(self.addresses),
            slack_username=self.slack_username,
            slack_icon=self.slack_icon,
            filter=document,
            name=self.name,
            retry_schedule=None if self.retry_schedule is None else tuple(self.retry_schedule),
            disable_after_seconds=self.disable_after_seconds,
            notification_channel=self.notification_channel,
            enabled=self.enabled,
            secret=self.secret,
        )


class RotationBody(BaseModel):
    """A new signing secret (yours, or generated), and how long the old one keeps signing."""

    model_config = ConfigDict(extra="forbid")

    secret: StrictStr | None = None
    overlap_seconds: float | None = Field(
        default=None, description="How long the old secret signs too (default a day)"
    )


def _ts(ns: int | None) -> str | None:
    return None if ns is None else format_rfc3339(ns)


def subscription_json(item: Subscription) -> dict[str, Any]:
    """A subscription as readers see it: no secret, a Slack URL masked."""
    row = item.row
    schedule, disable_after = effective_policy(row)
    return {
        "id": row.id,
        "name": row.name,
        "target": row.target,
        "url": item.shown_url,
        "addresses": row.addresses,
        "slack_username": row.slack_username,
        "slack_icon": row.slack_icon,
        "filter": row.filter,
        "retry_schedule": schedule,
        "disable_after_seconds": disable_after,
        "notification_channel": row.notification_channel,
        "escapekit_project": row.escapekit_project,
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "disabled": _ts(row.disabled_at),
        "failing_since": _ts(row.failing_since),
        "signed": row.sealed_secrets is not None,
        "previous_secret_until": _ts(item.secret_previous_until),
        "created": format_rfc3339(row.created_at),
        "updated": format_rfc3339(row.updated_at),
    }


def _saved(saved: SavedSubscription, message: str) -> dict[str, Any]:
    data = subscription_json(saved.subscription)
    if saved.generated_secret is not None:
        data["secret"] = saved.generated_secret
    return {"data": data, "message": message}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.get("/api/v1/subscriptions", summary="List subscriptions")
async def list_subscriptions(
    services: ServicesDep,
    principal: PrincipalDep,
    target: Annotated[str | None, Query(pattern="^(webhook|slack|email)$")] = None,
    enabled: bool | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """`{"data": [subscriptions, oldest first], "pagination": {page, per_page, total, …}}`."""
    items, total = await services.subscriptions.page(
        principal, offset=(page - 1) * per_page, limit=per_page, target=target, enabled=enabled
    )
    pagination = {
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": total_pages(total, per_page),
    }
    return _json({"data": [subscription_json(s) for s in items], "pagination": pagination})


@router.post("/api/v1/subscriptions", status_code=201, summary="Create a subscription")
async def create_subscription(
    body: SubscriptionBody, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """A generated signing secret is in this answer's `data.secret`, and never again."""
    saved = await services.subscriptions.create(principal, body.to_spec())
    return _json(_saved(saved, "Subscription created successfully"), 201)


@router.get("/api/v1/subscriptions/{subscription_id}", summary="Get a subscription")
async def get_subscription(
    subscription_id: SubscriptionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """`{"data": subscription}`, or 404."""
    item = await services.subscriptions.get(principal, subscription_id)
    return _json({"data": subscription_json(item)})


@router.put("/api/v1/subscriptions/{subscription_id}", summary="Replace a subscription")
async def replace_subscription(
    subscription_id: SubscriptionId,
    body: SubscriptionBody,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Every setting is replaced; the signing secret stays unless `secret` is given. Setting
    `enabled` on a disabled subscription starts it over."""
    saved = await services.subscriptions.replace(principal, subscription_id, body.to_spec())
    return _json(_saved(saved, "Subscription updated successfully"))


@router.delete("/api/v1/subscriptions/{subscription_id}", summary="Delete a subscription")
async def delete_subscription(
    subscription_id: SubscriptionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Its past deliveries stay, as executions."""
    await services.subscriptions.delete(principal, subscription_id)
    message = f"Subscription with ID {subscription_id} deleted successfully"
    return _json({"success": True, "message": message})


@router.post(
    "/api/v1/subscriptions/{subscription_id}/secret/rotate",
    summary="Rotate a subscription's signing secret",
)
async def rotate_secret(
    subscription_id: SubscriptionId,
    body: RotationBody,
    services: ServicesDep,
    principal: PrincipalDep,
) -> Response:
    """Deliveries are signed with both secrets until `previous_secret_until`."""
    saved = await services.subscriptions.rotate_secret(
        principal, subscription_id, secret=body.secret, overlap_seconds=body.overlap_seconds
    )
    return _json(_saved(saved, "Signing secret rotated"))


@router.get(
    "/api/v1/subscriptions/{subscription_id}/deliveries", summary="A subscription's deliveries"
)
async def list_deliveries(
    subscription_id: SubscriptionId,
    services: ServicesDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Newest first, as executions list (each has `subscription`, `event` and `status`)."""
    await services.subscriptions.get(principal, subscription_id)  # 404 for an unknown one
    result = await services.executions.page(
        principal=principal,
        flt=ExecutionFilter(subscription_id=subscription_id),
        page=page,
        per_page=per_page,
        cursor=cursor,
    )
    body = list_body(result, summary_json, page=page, per_page=per_page, cursor=cursor)
    return Response(body, media_type="application/json")


@router.get("/api/v1/deliveries/{delivery_id}", summary="One delivery with its attempts")
async def get_delivery(
    delivery_id: DeliveryId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Each attempt's `detail` holds the status code, duration and a response excerpt."""
    detail = await services.deliveries.get(principal, delivery_id)
    return _json({"data": detail_json(detail)})


@router.post("/api/v1/deliveries/{delivery_id}/resend", status_code=201, summary="Resend")
async def resend_delivery(
    delivery_id: DeliveryId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """A new delivery of the same event to the same subscription, due now (same webhook-id)."""
    detail = await services.deliveries.resend(principal, delivery_id)
    return _json({"data": detail_json(detail), "message": "Delivery queued"}, 201)
