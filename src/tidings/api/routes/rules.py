"""Rules (001_…txt) under /api/v1/rules and the per-pack, per-action and per-trigger lists.

Mapping only: each handler turns the request into a service call and the result into the
document's envelope (`{"data": …}`, `{"data": …, "message": …}`, or the list's `pagination`).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.rules import (
    RuleCreate,
    RuleTestRequest,
    RuleUpdate,
    rule_json,
    rule_page_json,
    trial_json,
)

router = APIRouter(tags=["rules"], route_class=JSONRoute)

Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page number")]
PerPage = Annotated[int, Query(ge=1, le=100, description="Items per page (max 100)")]

_TEST_DOC = """Tidings extension: a dry run of a rule against one event; nothing is stored or run.

Send `{"payload": {...}}` — a sample event payload, with any other event fields under
`"event"` (`{"type": ..., "service": ...}`; `type` defaults to the rule's trigger) — or
`{"event_id": 123}`, an event of your tenant that you may see (404 otherwise; needs
`events:read` too). A disabled rule is evaluated as well.

Answer: `{"data": {"rule", "enabled", "condition": "passed"|"failed", "matched",
"conditions": {clause path: bool}, "action_ref", "parameters", "errors"}}`. `matched` is
whether the rule would run its action (passed and enabled); `conditions` holds each top-level
clause's result by JSON path (`$.and[0]`), or `$` for the whole condition; `parameters` are the
rendered `action_params` with pack secrets replaced by `********`, or null when the condition
failed; `errors` holds the rendering failures (a strict rule naming a missing path, a bound hit).
"""

_LIST_DOC = 'As `{"data": [rule summaries], "pagination": {page, per_page, total, total_pages}}`.'


def _response(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _list(
    services: ServicesDep, principal: PrincipalDep, page: int, per_page: int, **scope: Any
) -> Response:
    result = await services.rules.list_rules(principal, page=page, per_page=per_page, **scope)
    return _response(200, rule_page_json(result, page=page, per_page=per_page))


@router.get("/api/v1/rules", summary="List all rules", responses={200: {"description": _LIST_DOC}})
async def list_rules(
    services: ServicesDep, principal: PrincipalDep, page: Page = 1, per_page: PerPage = 20
) -> Response:
    """Every rule of the caller's tenant, by id."""
    return await _list(services, principal, page, per_page)


@router.get(
    "/api/v1/rules/enabled",
    summary="List enabled rules",
    responses={200: {"description": _LIST_DOC}},
)
async def list_enabled_rules(
    services: ServicesDep, principal: PrincipalDep, page: Page = 1, per_page: PerPage = 20
) -> Response:
    """Only the rules that are enabled, by id."""
    return await _list(services, principal, page, per_page, enabled_only=True)


@router.get(
    "/api/v1/packs/{pack_ref}/rules",
    summary="List rules by pack",
    responses={200: {"description": _LIST_DOC}, 404: {"description": "No such pack."}},
)
async def list_pack_rules(
    pack_ref: str,
    services: ServicesDep,
    principal: PrincipalDep,
    page: Page = 1,
    per_page: PerPage = 20,
) -> Response:
    """The rules of one pack; 404 `Pack 'x' not found`."""
    return await _list(services, principal, page, per_page, pack_ref=pack_ref)


@router.get(
    "/api/v1/actions/{action_ref}/rules",
    summary="List rules by action",
    responses={200: {"description": _LIST_DOC}, 404: {"description": "No such action."}},
)
async def list_action_rules(
    action_ref: str,
    services: ServicesDep,
    principal: PrincipalDep,
    page: Page = 1,
    per_page: PerPage = 20,
) -> Response:
    """The rules that execute one action; 404 `Action 'x' not found`."""
    return await _list(services, principal, page, per_page, action_ref=action_ref)


@router.get(
    "/api/v1/triggers/{trigger_ref}/rules",
    summary="List rules by trigger",
    responses={200: {"description": _LIST_DOC}, 404: {"description": "No such trigger."}},
)
async def list_trigger_rules(
    trigger_ref: str,
    services: ServicesDep,
    principal: PrincipalDep,
    page: Page = 1,
    per_page: PerPage = 20,
) -> Response:
    """The rules one trigger activates; 404 `Trigger 'x' not found`."""
    return await _list(services, principal, page, per_page, trigger_ref=trigger_ref)


@router.get("/api/v1/rules/{ref}", summary="Get rule by reference")
async def get_rule(ref: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """`{"data": rule}`, or 404 `Rule 'x' not found`."""
    rule = await services.rules.get_rule(principal, ref=ref)
    return _response(200, {"data": rule_json(rule)})


@router.post(
    "/api/v1/rules",
    status_code=201,
    summary="Create rule",
    responses={
        201: {"description": '`{"data": rule, "message": "Rule created successfully"}`.'},
        404: {"description": "The pack, action or trigger does not exist."},
        409: {"description": "A rule with this ref exists."},
    },
)
async def create_rule(body: RuleCreate, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Create a rule; its condition and templates are checked now (400 naming the path)."""
    rule = await services.rules.create_rule(principal, rule_in=body.to_new_rule())
    return _response(201, {"data": rule_json(rule), "message": "Rule created successfully"})


@router.put("/api/v1/rules/{ref}", summary="Update rule")
async def update_rule(
    ref: str, body: RuleUpdate, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Change only the fields given; pack_ref, action_ref and trigger_ref cannot change."""
    rule = await services.rules.update_rule(principal, ref=ref, changes=body.to_changes())
    return _response(200, {"data": rule_json(rule), "message": "Rule updated successfully"})


@router.post("/api/v1/rules/{ref}/enable", summary="Enable rule")
async def enable_rule(ref: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Activate a rule for event processing."""
    rule = await services.rules.set_enabled(principal, ref=ref, enabled=True)
    return _response(200, {"data": rule_json(rule), "message": "Rule enabled successfully"})


@router.post("/api/v1/rules/{ref}/disable", summary="Disable rule")
async def disable_rule(ref: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Stop a rule from processing events."""
    rule = await services.rules.set_enabled(principal, ref=ref, enabled=False)
    return _response(200, {"data": rule_json(rule), "message": "Rule disabled successfully"})


@router.delete("/api/v1/rules/{ref}", summary="Delete rule")
async def delete_rule(ref: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """`{"success": true, "message": "Rule 'x' deleted successfully"}`."""
    await services.rules.delete_rule(principal, ref=ref)
    return _response(200, {"success": True, "message": f"Rule '{ref}' deleted successfully"})


@router.post(
    "/api/v1/rules/{ref}/test",
    summary="Test a rule against an event (Tidings extension)",
    description=_TEST_DOC,
    responses={404: {"description": "No such rule, or no such event visible to the caller."}},
)
async def test_rule(
    ref: str, body: RuleTestRequest, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Evaluate the rule's condition and render its parameters; nothing is stored or run."""
    sample, event_id = body.source(max_depth=services.settings.max_payload_depth)
    trial = await services.rules.test_rule(principal, ref=ref, sample=sample, event_id=event_id)
    return _response(200, {"data": trial_json(trial)})
