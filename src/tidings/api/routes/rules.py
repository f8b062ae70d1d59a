"""Rules (001_…txt) under /api/v1/rules and the per-pack, per-action and per-trigger lists."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.routing import JSONRoute

router = APIRouter(tags=["rules"], route_class=JSONRoute)
