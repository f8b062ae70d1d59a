"""Building and starting the gRPC server: Tracker's EventService and server reflection.

The server is a `grpc.aio` server on the caller's event loop, so `tidings serve` runs it beside
uvicorn in one process on one `Services`. Reflection lists the services and their message types
so `grpcurl` needs no .proto file; it reveals no data, so it is served without authentication
(grpcurl's `list` and `describe` send none), while every EventService method requires it.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_reflection.v1alpha import reflection

from tidings.api.grpc.stubs import SERVICE_NAME, pb_grpc
from tidings.api.grpc.tracker_service import TrackerEventService
from tidings.services.runtime import Services

SERVICE_NAMES: tuple[str, ...] = (SERVICE_NAME, reflection.SERVICE_NAME)
SHUTDOWN_GRACE_SECONDS = 10.0


class BindError(RuntimeError):
    """The gRPC port could not be bound (in use, or not allowed)."""


@dataclass(frozen=True)
class GrpcServer:
    """A started server and the port it listens on (the real one when 0 was asked for)."""

    server: grpc.aio.Server
    port: int

    async def stop(self, grace: float | None = SHUTDOWN_GRACE_SECONDS) -> None:
        """Refuse new calls, let running ones finish for up to `grace` seconds, then cancel."""
        await self.server.stop(grace)


def address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def build(services: Services) -> grpc.aio.Server:
    """A server with the EventService and reflection, not yet bound or started."""
    server = grpc.aio.server(
        options=[
            # gRPC sets SO_REUSEPORT by default: a second server on the same port would then
            # start "successfully" and share the calls. Refuse the port instead, as HTTP does.
            ("grpc.so_reuseport", 0),
            # The same bound as HTTP request bodies (TIDINGS_MAX_BODY_BYTES).
            ("grpc.max_receive_message_length", services.settings.max_body_bytes),
        ]
    )
    pb_grpc.add_EventServiceServicer_to_server(TrackerEventService(services), server)
    reflection.enable_server_reflection(SERVICE_NAMES, server)
    return server


async def start(services: Services, *, host: str, port: int) -> GrpcServer:
    """Build, bind and start a server on `host:port` (0 picks a free port)."""
    server = build(services)
    target = address(host, port)
    try:
        bound = server.add_insecure_port(target)
    except RuntimeError as exc:
        raise BindError(f"cannot listen for gRPC on {target}: {exc}") from None
    if bound == 0:  # older gRPC releases report a failed bind this way
        raise BindError(f"cannot listen for gRPC on {target}")
    await server.start()
    return GrpcServer(server, bound)
