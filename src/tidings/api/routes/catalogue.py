"""Packs, triggers and actions under /api/v1/packs, /api/v1/triggers and /api/v1/actions.

The envelopes follow Attune's rule document (001_…txt): `{"data": …}`, lists with `pagination`
(`page`, `per_page`, `total`, `total_pages`), a `message` on create and update, and
`{"success": true, "message": …}` on delete. The `…/{ref}/rules` lists belong to the rules router.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tidings.api.dependencies import PrincipalDep, ServicesDep
from tidings.api.routing import JSONRoute
from tidings.api.schemas.catalogue import (
    ActionCreate,
    ActionUpdate,
    PackCreate,
    PackUpdate,
    TriggerCreate,
    TriggerUpdate,
    action_json,
    pack_json,
    pagination,
    trigger_json,
)

router = APIRouter(prefix="/api/v1", tags=["catalogue"], route_class=JSONRoute)

RefPath = Annotated[str, Path(min_length=1, max_length=255)]
PageQuery = Annotated[int, Query(ge=1, le=1_000_000)]
PerPageQuery = Annotated[int, Query(ge=1, le=100)]
PackRefQuery = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Only this pack's.")
]


def _deleted(kind: str, ref: str) -> dict[str, Any]:
    return {"success": True, "message": f"{kind} '{ref}' deleted successfully"}


# --- packs ---------------------------------------------------------------------------------------


@router.get("/packs", summary="List packs")
async def list_packs(
    services: ServicesDep,
    principal: PrincipalDep,
    page: PageQuery = 1,
    per_page: PerPageQuery = 20,
) -> dict[str, Any]:
    """Packs by ref, the built-in ones included."""
    found = await services.catalogue.list_packs(principal, page=page, per_page=per_page)
    return {
        "data": [pack_json(view) for view in found.items],
        "pagination": pagination(page=page, per_page=per_page, total=found.total),
    }


@router.post("/packs", status_code=201, summary="Create a pack")
async def create_pack(
    body: PackCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A pack; 409 when the ref is taken, 400 when its config breaks its schema."""
    view = await services.catalogue.create_pack(principal, spec=body.to_spec())
    return {"data": pack_json(view), "message": "Pack created successfully"}


@router.get("/packs/{ref}", summary="Get a pack")
async def get_pack(ref: RefPath, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """One pack, or 404 `Pack 'x' not found`."""
    return {"data": pack_json(await services.catalogue.get_pack(principal, ref=ref))}


@router.put("/packs/{ref}", summary="Update a pack")
async def update_pack(
    ref: RefPath, body: PackUpdate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Change a pack; a built-in pack's config only."""
    view = await services.catalogue.update_pack(principal, ref=ref, changes=body.to_changes())
    return {"data": pack_json(view), "message": "Pack updated successfully"}


@router.delete("/packs/{ref}", summary="Delete a pack")
async def delete_pack(
    ref: RefPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Remove a pack with its triggers, actions and rules (409 for a built-in pack)."""
    await services.catalogue.delete_pack(principal, ref=ref)
    return _deleted("Pack", ref)


# --- triggers ------------------------------------------------------------------------------------


@router.get("/triggers", summary="List triggers")
async def list_triggers(
    services: ServicesDep,
    principal: PrincipalDep,
    page: PageQuery = 1,
    per_page: PerPageQuery = 20,
    pack_ref: PackRefQuery = None,
) -> dict[str, Any]:
    """Triggers by ref, of every pack or of `pack_ref`."""
    found = await services.catalogue.list_triggers(
        principal, pack_ref=pack_ref, page=page, per_page=per_page
    )
    return {
        "data": [trigger_json(t) for t in found.items],
        "pagination": pagination(page=page, per_page=per_page, total=found.total),
    }


@router.post("/triggers", status_code=201, summary="Create a trigger")
async def create_trigger(
    body: TriggerCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A trigger; its ref starts with its pack's ref and a dot."""
    trigger = await services.catalogue.create_trigger(
        principal, spec=body.to_spec(), pack_ref=body.pack_ref
    )
    return {"data": trigger_json(trigger), "message": "Trigger created successfully"}


@router.get("/triggers/{ref}", summary="Get a trigger")
async def get_trigger(
    ref: RefPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """One trigger, or 404 `Trigger 'x' not found`."""
    return {"data": trigger_json(await services.catalogue.get_trigger(principal, ref=ref))}


@router.put("/triggers/{ref}", summary="Update a trigger")
async def update_trigger(
    ref: RefPath, body: TriggerUpdate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Change a trigger's label, description or payload schema."""
    trigger = await services.catalogue.update_trigger(principal, ref=ref, changes=body.to_changes())
    return {"data": trigger_json(trigger), "message": "Trigger updated successfully"}


@router.delete("/triggers/{ref}", summary="Delete a trigger")
async def delete_trigger(
    ref: RefPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Remove a trigger; 409 while rules use it."""
    await services.catalogue.delete_trigger(principal, ref=ref)
    return _deleted("Trigger", ref)


# --- actions -------------------------------------------------------------------------------------


@router.get("/actions", summary="List actions")
async def list_actions(
    services: ServicesDep,
    principal: PrincipalDep,
    page: PageQuery = 1,
    per_page: PerPageQuery = 20,
    pack_ref: PackRefQuery = None,
) -> dict[str, Any]:
    """Actions by ref, of every pack or of `pack_ref`."""
    found = await services.catalogue.list_actions(
        principal, pack_ref=pack_ref, page=page, per_page=per_page
    )
    return {
        "data": [action_json(a) for a in found.items],
        "pagination": pagination(page=page, per_page=per_page, total=found.total),
    }


@router.post("/actions", status_code=201, summary="Create an action")
async def create_action(
    body: ActionCreate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """An action; `runner` is a built-in runner, or `python` with an `entry_point`."""
    action = await services.catalogue.create_action(
        principal, spec=body.to_spec(), pack_ref=body.pack_ref
    )
    return {"data": action_json(action), "message": "Action created successfully"}


@router.get("/actions/{ref}", summary="Get an action")
async def get_action(
    ref: RefPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """One action, or 404 `Action 'x' not found`."""
    return {"data": action_json(await services.catalogue.get_action(principal, ref=ref))}


@router.put("/actions/{ref}", summary="Update an action")
async def update_action(
    ref: RefPath, body: ActionUpdate, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Change an action's fields (not its ref or pack)."""
    action = await services.catalogue.update_action(principal, ref=ref, changes=body.to_changes())
    return {"data": action_json(action), "message": "Action updated successfully"}


@router.delete("/actions/{ref}", summary="Delete an action")
async def delete_action(
    ref: RefPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Remove an action; 409 while rules use it."""
    await services.catalogue.delete_action(principal, ref=ref)
    return _deleted("Action", ref)
