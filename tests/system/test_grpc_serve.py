"""`tidings serve` runs Tracker's gRPC API beside HTTP, in one process on one database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.conftest import ADMIN_TOKEN
from tests.system.conftest import LiveServer, free_port
from tidings.api.grpc.stubs import pb, pb_grpc

pytestmark = pytest.mark.system

ADMIN = (("authorization", f"Bearer {ADMIN_TOKEN}"),)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server with gRPC on a free port."""
    live = LiveServer(data_dir=tmp_path / "data", grpc_port=free_port())
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_event_created_over_grpc_is_read_over_http(server: LiveServer) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        stub: Any = pb_grpc.EventServiceStub(channel)
        request = pb.CreateEventRequest(
            title="Deploy user-service v2.1.0",
            attributes=pb.Attributes(
                type="1", priority="2", service="user-service", status="3", environment="7"
            ),
            links=pb.Links(pull_request_link="https://github.com/org/repo/pull/123"),
        )
        created = stub.CreateEvent(request, metadata=ADMIN, timeout=30)
    assert sorted(services) == [
        "grpc.reflection.v1alpha.ServerReflection",
        "tracker.event.v1alpha1.EventService",
    ]
    assert (created.id, created.title) == ("1", "Deploy user-service v2.1.0")

    response = httpx.get(f"{server.url}/api/v1alpha1/event/1", headers=server.headers, timeout=10)
    assert response.status_code == 200
    event = response.json()
    assert (event["title"], event["eventType"], event["createdAt"]) == (
        "Deploy user-service v2.1.0",
        "deployment",
        created.created_at,
    )
    attributes = {k: event["attributes"][k] for k in ("type", "priority", "status", "service")}
    assert attributes == {"type": 1, "priority": 2, "status": 3, "service": "user-service"}
    assert event["links"] == {"pullRequestLink": "https://github.com/org/repo/pull/123"}
    assert server.log_path is not None
    assert (
        f"Tidings gRPC (tracker.event.v1alpha1.EventService) listening on {server.grpc_target}"
        in server.log_path.read_text()
    )


def test_sigterm_stops_grpc_too(server: LiveServer) -> None:
    server.stop()
    assert server.process is not None
    assert server.process.returncode == -15  # as before gRPC: ended by the signal, after cleanup
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub: Any = pb_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListEvents(pb.ListEventsRequest(), metadata=ADMIN, timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_taken_grpc_port_stops_the_server_with_a_message(
    server: LiveServer, tmp_path: Path
) -> None:
    second = LiveServer(data_dir=tmp_path / "second", grpc_port=server.grpc_port)
    with pytest.raises(RuntimeError, match="server exited early") as failed:
        second.start()
    assert second.process is not None
    assert second.process.returncode == 1
    assert f"Error: cannot listen for gRPC on 127.0.0.1:{server.grpc_port}" in str(failed.value)
    # The first server is unaffected and still answers on both protocols.
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub: Any = pb_grpc.EventServiceStub(channel)
        listed = stub.ListEvents(pb.ListEventsRequest(), metadata=ADMIN, timeout=30)
    assert (listed.total, listed.page, listed.per_page) == (0, 1, 10)
