"""EscapeKit's subscriptions (`seeds/004_…txt`): `GET/PUT /api/v1/events/subscriptions/project/
{project}/` — mapping only.

The document's `Subscriptions` is an object of `Subscription`s keyed by id, each with `id`,
`type` (`webhook` or `slack`), `url`, and for Slack `slack_icon` and `slack_username`. They are
Tidings subscriptions scoped to the project (they receive the events whose state project it is)
and marked as the project's, so the native API shows them too. PUT replaces the project's whole
list: a key naming one of its subscriptions changes that one, any other key adds one (the
answer shows the ids given), and the ones left out are deleted. A Slack URL reads masked (it is
a credential) and may be sent back masked to keep it. A webhook's deliveries are signed like
every other's and carry EscapeKit's `Event` as their body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.dialects.escapekit import serve
from tidings.api.routing import JSONRoute
from tidings.domain.subscriptions import SubscriptionSpec
from tidings.services.subscriptions import Subscription

router = APIRouter(route_class=JSONRoute, tags=["escapekit"])

PATH = "/api/v1/events/subscriptions/project/{project}/"
Project = Annotated[str, Path(min_length=1, max_length=255, description="The state project")]


class EscapeKitSubscription(BaseModel):
    """The document's Subscription."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = Field(default=None, description="Ignored on PUT: the key counts")
    type: Literal["webhook", "slack"]
    url: StrictStr
    slack_icon: StrictStr | None = None
    slack_username: StrictStr | None = None

    def to_spec(self) -> SubscriptionSpec:
        """The core's subscription (the filter is set to the project by the service)."""
        return SubscriptionSpec(
            target=self.type,
            url=self.url,
            slack_icon=self.slack_icon,
            slack_username=self.slack_username,
        )


def subscriptions_json(items: list[Subscription]) -> dict[str, Any]:
    """The document's Subscriptions: each Subscription under its id, keys without a value left
    out as in EscapeKit's events."""
    out: dict[str, Any] = {}
    for item in items:
        row = item.row
        one: dict[str, Any] = {"id": str(row.id)}
        if row.slack_icon is not None:
            one["slack_icon"] = row.slack_icon
        if row.slack_username is not None:
            one["slack_username"] = row.slack_username
        one["type"] = row.target
        one["url"] = item.shown_url
        out[str(row.id)] = one
    return out


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@serve("GET", PATH, "A project's subscriptions (EscapeKit)", on=router)
async def get_subscriptions(
    project: Project, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """`{"<id>": Subscription, …}`; `{}` when the project has none."""
    items = await services.subscriptions.project_list(principal, project)
    return _json(subscriptions_json(items))


@serve("PUT", PATH, "Replace a project's subscriptions (EscapeKit)", on=router)
async def put_subscriptions(
    project: Project,
    services: ServicesDep,
    principal: PrincipalDep,
    body: Annotated[dict[str, EscapeKitSubscription], Body()],
) -> Response:
    """The project's subscriptions become exactly `body`; the answer is the new list."""
    specs = [(key, item.to_spec()) for key, item in body.items()]
    items = await services.subscriptions.replace_project(principal, project, specs)
    return _json(subscriptions_json(items))
