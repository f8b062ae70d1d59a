"""Packs, triggers and actions under /api/v1/packs, /api/v1/triggers and /api/v1/actions."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.routing import JSONRoute

router = APIRouter(tags=["catalogue"], route_class=JSONRoute)
