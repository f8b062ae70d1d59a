"""Errors as gRPC status codes, decided in one place from the HTTP status each error carries.

The message is the one the HTTP error body's `error` field holds. Field problems travel as
JSON in the trailing metadata `tidings-error-details` (the `details` list of the HTTP body), and
every answer, failed or not, carries its request id as `x-request-id`.
"""

from __future__ import annotations

import json

import grpc

from tidings.domain.errors import TidingsError

# HTTP status -> gRPC code. 422 (an Idempotency-Key reused for another request) is
# FAILED_PRECONDITION: the request is well-formed, but the state the key is bound to rejects it.
CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.FAILED_PRECONDITION,
    503: grpc.StatusCode.UNAVAILABLE,
}
DETAILS_KEY = "tidings-error-details"
REQUEST_ID_KEY = "x-request-id"
INTERNAL_MESSAGE = "Internal server error"

Metadata = tuple[tuple[str, str], ...]


def code_of(error: TidingsError) -> grpc.StatusCode:
    """The gRPC code of an error; any status without a mapping is INTERNAL."""
    return CODES.get(error.status, grpc.StatusCode.INTERNAL)


def trailers_of(error: TidingsError) -> Metadata:
    """Trailing metadata describing the error beyond its message."""
    if not error.details:
        return ()
    # ASCII-only JSON: metadata values outside printable ASCII are refused by gRPC.
    details = json.dumps([d.as_dict() for d in error.details], ensure_ascii=True)
    return ((DETAILS_KEY, details),)
