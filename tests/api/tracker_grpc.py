"""Helpers of the gRPC suites: a settable clock, a grpcurl stand-in, and RPC shorthands."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.conftest import ADMIN_TOKEN
from tidings.api.grpc.stubs import pb

SERVICE = "tracker.event.v1alpha1.EventService"
ADMIN = (("authorization", f"Bearer {ADMIN_TOKEN}"),)


class Grpcurl:
    """`grpcurl --plaintext`: reflection, dynamic messages, JSON in and out (blocking calls)."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.database = ProtoReflectionDescriptorDatabase(self.channel)
        self.pool = descriptor_pool.DescriptorPool(self.database)

    def list(self) -> list[str]:
        """`grpcurl list`."""
        return sorted(self.database.get_services())

    def describe(self, service: str) -> dict[str, tuple[str, str]]:
        """`grpcurl describe SERVICE`: each method's input and output message."""
        found = self.pool.FindServiceByName(service)
        return {m.name: (m.input_type.name, m.output_type.name) for m in found.methods}

    def call(self, method: str, data: str = "{}", token: str = ADMIN_TOKEN) -> dict[str, Any]:
        """`grpcurl -H "authorization: Bearer …" -d DATA localhost:PORT METHOD`."""
        service_name, _, method_name = method.rpartition("/")
        descriptor = self.pool.FindServiceByName(service_name).methods_by_name[method_name]
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        request = json_format.Parse(data, request_class())
        rpc = self.channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        response = rpc(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30)
        return json_format.MessageToDict(response)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error an RPC fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def create(stub: Any, **attributes: Any) -> str:
    """CreateEvent with a title and these attributes (type 1 and service `api` unless given)."""
    request = pb.CreateEventRequest(
        title=attributes.pop("title", "an event"),
        attributes=pb.Attributes(**({"type": "1", "service": "api"} | attributes)),
    )
    response: pb.CreateEventResponse = await stub.CreateEvent(request, metadata=ADMIN)
    return response.id
