"""The `Idempotency-Key` header, shared by every HTTP route that records events."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header, Request

from tidings.domain.access import Principal
from tidings.services.ingest import IdempotencyClaim

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key returns the first answer and stores nothing twice.",
    ),
]


async def claim_of(
    request: Request, principal: Principal, key: str | None
) -> IdempotencyClaim | None:
    """Bind the key to this caller, method, path and body: any difference is a new request."""
    if key is None:
        return None
    digest = hashlib.sha256(f"{principal.locator}\n{request.method}\n{request.url.path}\n".encode())
    digest.update(await request.body())
    return IdempotencyClaim(key=key, fingerprint=digest.hexdigest())
