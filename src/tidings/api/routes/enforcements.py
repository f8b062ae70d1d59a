"""Attune's enforcement query API (000_…txt) on /api/v1/enforcements."""

from __future__ import annotations

from fastapi import APIRouter

from tidings.api.routing import JSONRoute

router = APIRouter(tags=["enforcements"], route_class=JSONRoute)
