"""The generated modules of Tracker's EventService, generated first if this install lacks them.

Everything else imports the messages and service classes from here, so the check of
`codegen.ensure_current` happens in exactly one place, before the first import of
`tidings.api.grpc.generated` (see `codegen` for why and how).
"""

from __future__ import annotations

from tidings.api.grpc import codegen

codegen.ensure_current()

from tidings.api.grpc.generated.tracker.event.v1alpha1 import (  # noqa: E402
    event_pb2 as pb,
)
from tidings.api.grpc.generated.tracker.event.v1alpha1 import (  # noqa: E402
    event_pb2_grpc as pb_grpc,
)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["EventService"].full_name

__all__ = ["SERVICE_NAME", "pb", "pb_grpc"]
