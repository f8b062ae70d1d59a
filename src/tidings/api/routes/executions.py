"""Executions on /api/v1/executions: list, get, cancel, retry."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.routing import JSONRoute

router = APIRouter(tags=["executions"], route_class=JSONRoute)
