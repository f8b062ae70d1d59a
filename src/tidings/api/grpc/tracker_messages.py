"""Tracker's gRPC messages ↔ the REST dialect's models and renderings.

A request message becomes the same pydantic model the REST router validates
(`TrackerEventCreate`, `TrackerEventUpdate`), and an event is rendered by the same
`event_json` before it becomes a message, so codes, rules and facts are one definition for both
transports. Only the names differ: the proto is snake_case (`start_date`, `pull_request_link`),
Tracker's REST JSON camelCase (`startDate`, `pullRequestLink`), and error messages and revision
paths are given in the proto's names, the ones a gRPC caller sent.

Proto3 strings cannot be null: on create an empty string means "not given"; on update the
fields are `optional`, a field left out stays as it is and a field sent as "" is cleared.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from pydantic import ValidationError

from tidings.api.errors import problems_from_validation
from tidings.api.grpc.stubs import pb
from tidings.api.schemas import tracker as tracker_schema
from tidings.api.schemas.tracker import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    TrackerEventCreate,
    TrackerEventUpdate,
)
from tidings.api.schemas.tracker_views import created_json, event_json
from tidings.domain.errors import FieldProblem, InvalidInput, describe
from tidings.domain.events import Event, EventFilter
from tidings.domain.json import JSONValue, nul_path
from tidings.domain.pagination import total_pages
from tidings.domain.revisions import Revision
from tidings.services.event_queries import EventPage

# Scalar attributes: proto name -> Tracker's REST name.
SCALARS: tuple[tuple[str, str], ...] = (
    ("message", "message"),
    ("source", "source"),
    ("type", "type"),
    ("priority", "priority"),
    ("related_id", "relatedId"),
    ("service", "service"),
    ("status", "status"),
    ("environment", "environment"),
    ("impact", "impact"),
    ("start_date", "startDate"),
    ("end_date", "endDate"),
    ("owner", "owner"),
)
NAMED_LINKS: tuple[tuple[str, str], ...] = (
    ("pull_request_link", "pullRequestLink"),
    ("ticket", "ticket"),
)
# Tracker's REST names that the proto spells differently, for paths in errors and revisions.
_PROTO_NAMES = {
    "relatedId": "related_id",
    "startDate": "start_date",
    "endDate": "end_date",
    "stakeHolders": "stake_holders",
    "pullRequestLink": "pull_request_link",
}
_REST_PATH = re.compile(
    r"^((?:attributes|links)\.)(" + "|".join(re.escape(n) for n in _PROTO_NAMES) + r")\b"
)
Model = TypeVar("Model", TrackerEventCreate, TrackerEventUpdate)
Page = TypeVar("Page", pb.ListEventsResponse, pb.SearchEventsResponse, pb.TodayEventsResponse)


def proto_path(path: str) -> str:
    """A Tracker REST path (`attributes.startDate`) in the proto's names (`…start_date`)."""
    return _REST_PATH.sub(lambda m: m.group(1) + _PROTO_NAMES[m.group(2)], path)


def in_proto_names(error: InvalidInput) -> InvalidInput:
    """The same error, naming fields as the proto does."""
    if not error.details:
        return error
    details = [FieldProblem(proto_path(d.field), d.message, d.index) for d in error.details]
    first, renamed = error.details[0].field, details[0].field
    message = error.message.replace(f"{first}: ", f"{renamed}: ", 1)
    return InvalidInput(message, details)


def _validated(model: type[Model], data: dict[str, Any]) -> Model:
    """Validate as the REST router's body would be, with the same messages."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation(RequestValidationError(exc.errors()))
        raise InvalidInput(describe(problems), problems) from None


def create_model(request: pb.CreateEventRequest) -> TrackerEventCreate:
    """The REST create body this request stands for; empty strings are fields not given."""
    data: dict[str, Any] = {}
    if request.title:
        data["title"] = request.title
    if request.HasField("attributes"):
        attrs = request.attributes
        given: dict[str, Any] = {
            rest: getattr(attrs, name) for name, rest in SCALARS if getattr(attrs, name)
        }
        if attrs.stake_holders:
            given["stakeHolders"] = list(attrs.stake_holders)
        if attrs.HasField("notification"):
            given["notification"] = attrs.notification
        if attrs.notifications:
            given["notifications"] = list(attrs.notifications)
        data["attributes"] = given
    if request.HasField("links"):
        links = dict(request.links.other)
        links.update(
            {
                rest: getattr(request.links, n)
                for n, rest in NAMED_LINKS
                if getattr(request.links, n)
            }
        )
        if links:
            data["links"] = links
    return _validated(TrackerEventCreate, data)


def update_model(request: pb.UpdateEventRequest) -> TrackerEventUpdate:
    """The REST update body this request stands for: only the fields sent; "" clears one."""
    data: dict[str, Any] = {"id": request.id}
    if request.HasField("title"):
        data["title"] = request.title or None
    if request.HasField("attributes"):
        attrs = request.attributes
        given: dict[str, Any] = {
            rest: getattr(attrs, name) or None for name, rest in SCALARS if attrs.HasField(name)
        }
        if attrs.HasField("stake_holders"):
            given["stakeHolders"] = list(attrs.stake_holders.values)
        if attrs.HasField("notification"):
            given["notification"] = attrs.notification
        if attrs.HasField("notifications"):
            given["notifications"] = list(attrs.notifications.values)
        data["attributes"] = given
    if request.HasField("links"):
        sent = request.links
        links: dict[str, str | None] = {k: v or None for k, v in sent.other.items()}
        links.update(
            {rest: getattr(sent, n) or None for n, rest in NAMED_LINKS if sent.HasField(n)}
        )
        data["links"] = links
    return _validated(TrackerEventUpdate, data)


def created_message(event: Event) -> pb.CreateEventResponse:
    """The answer to a create: id, title, created_at."""
    rendered = created_json(event)
    return pb.CreateEventResponse(
        id=rendered["id"], title=rendered["title"] or "", created_at=rendered["createdAt"]
    )


def _text(value: object) -> str:
    """A rendered value as the proto's string: null is "", a code is its decimal string."""
    return "" if value is None else str(value)


def set_value(target: struct_pb2.Value, value: JSONValue) -> None:
    """Store a JSON value in a google.protobuf.Value."""
    if value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int | float):
        target.number_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, list):
        target.list_value.SetInParent()  # an empty list is a list, not an unset value
        for item in value:
            set_value(target.list_value.values.add(), item)
    else:
        target.struct_value.SetInParent()
        for key, item in value.items():
            set_value(target.struct_value.fields[key], item)


def _revision_message(rendered: dict[str, Any]) -> pb.Revision:
    message = pb.Revision(
        revision=rendered["revision"],
        kind=rendered["kind"],
        by=_text(rendered["by"]),
        by_locator=_text(rendered["byLocator"]),
        at=rendered["at"],
    )
    for change in rendered["changes"]:
        item = message.changes.add(field=proto_path(change["field"]))
        set_value(item.old, change["old"])
        set_value(item.new, change["new"])
    return message


def event_message(event: Event, revisions: list[Revision] | None = None) -> pb.Event:
    """An event as Tracker's REST API renders it, in the proto's names and string codes."""
    rendered = event_json(event, revisions)
    attributes = rendered["attributes"]
    message = pb.Event(
        id=rendered["id"],
        title=_text(rendered["title"]),
        event_type=rendered["eventType"],
        created_at=rendered["createdAt"],
        updated_at=rendered["updatedAt"],
    )
    attrs = message.attributes
    for name, rest in SCALARS:
        setattr(attrs, name, _text(attributes[rest]))
    attrs.stake_holders.extend(attributes["stakeHolders"] or ())
    if isinstance(attributes["notification"], bool):
        attrs.notification = attributes["notification"]
    if isinstance(attributes["notifications"], list):
        attrs.notifications.extend(str(n) for n in attributes["notifications"])
    links: dict[str, str] = dict(rendered["links"])
    for name, rest in NAMED_LINKS:
        setattr(message.links, name, links.pop(rest, ""))
    message.links.other.update(links)
    message.revisions.extend(_revision_message(r) for r in rendered.get("revisions", ()))
    return message


def page_params(per_page: int, page: int) -> tuple[int, int]:
    """(page, per_page) with the REST defaults for 0, or InvalidInput outside the REST bounds."""
    problems: list[FieldProblem] = []
    if not 0 <= per_page <= MAX_PER_PAGE:
        problems.append(
            FieldProblem("per_page", f"must be between 1 and {MAX_PER_PAGE} (0 means the default)")
        )
    if not 0 <= page <= MAX_PAGE:
        problems.append(FieldProblem("page", f"must be between 1 and {MAX_PAGE} (0 means 1)"))
    if problems:
        raise InvalidInput.of(*problems)
    return page or 1, per_page or DEFAULT_PER_PAGE


def search_filter(request: pb.SearchEventsRequest) -> EventFilter:
    """The filter REST's /events/search builds from the same parameters; "" is not given."""
    return tracker_schema.search_filter(
        priority=request.priority,
        service=request.service or None,
        event_type=request.type,
        environment=request.environment,
        status=request.status,
        start_date=request.start_date,
        end_date=request.end_date,
        location="request data",
    )


def fill_page(response: Page, result: EventPage, page: int, per_page: int) -> Page:
    """A page in the envelope of every Tracker list: events, page, per_page, total, pages."""
    total = result.total if result.total is not None else 0
    response.events.extend(event_message(event) for event in result.items)
    response.page = page
    response.per_page = per_page
    response.total = total
    response.total_pages = total_pages(total, per_page)
    return response


def refuse_nul(request: Message) -> None:
    """A NUL character anywhere in a request is a 400, as over HTTP (PostgreSQL cannot store it)."""
    where = nul_path(json_format.MessageToDict(request, preserving_proto_field_name=True))
    if where is not None:
        raise InvalidInput.of(FieldProblem(where, "must not contain the NUL character (\\u0000)"))
