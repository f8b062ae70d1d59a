"""Tracker dialect — mapping only; its routes are being built (issue 3)."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.routing import JSONRoute

router = APIRouter(route_class=JSONRoute)
