"""The two ends of a latency measurement on loopback: a receiver process that stamps arrivals, and
an open-loop sender.

The receiver is a bare ASGI app under uvicorn in a process of its own (so neither the sender nor
Tidings competes with it for a GIL). It records `(kind, seq, sent, arrived)` for every POST whose
JSON body carries `kind`, `seq` and `sent`, with `arrived = time.monotonic()`: on Linux that is
CLOCK_MONOTONIC, one clock for every process of the machine, so `arrived - sent` is a latency even
when `sent` was stamped in another process. GET returns everything recorded.

The sender is open-loop: request i is due at start + i/rate whatever the earlier answers did, and
carries its due time as `sent`, so time spent waiting in the sender counts against the figure
(no coordinated omission); how late each request actually left is reported beside it. It speaks
HTTP/1.1 over asyncio streams itself, opening connections as needed (up to `max_connections`):
httpx was tried first, and its connection pool spends CPU quadratic in the requests waiting for
a connection, so once a slow server had a few thousand of them queued the sender, not the
server, was what the figure measured.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench.server import free_port

# -- the receiver -------------------------------------------------------------------------------

_ARRIVALS: list[tuple[str, int, float, float]] = []


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def read_body(receive: Receive) -> bytes:
    """A request's whole body, from the ASGI messages that carry it."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def send_json(send: Send, answer: bytes) -> None:
    """A 200 with `answer` as its JSON body."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


async def receiver_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Record POSTs' arrivals; answer GET with all of them."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    arrived = time.monotonic()
    answer = b'{"ok":true}'
    if scope["method"] == "POST":
        data = orjson.loads(body)
        _ARRIVALS.append((data["kind"], int(data["seq"]), float(data["sent"]), arrived))
    else:
        answer = orjson.dumps(_ARRIVALS)
    await send_json(send, answer)


def receiver_main(port: int) -> None:
    """Serve the receiver on 127.0.0.1:`port` until terminated."""
    import uvicorn

    uvicorn.run(receiver_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


@contextmanager
def running_receiver(module: str) -> Iterator[str]:
    """`python -m <module> --receiver --port P` on a free port; its URL."""
    port = free_port()
    command = [sys.executable, "-m", module, "--receiver", "--port", str(port)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/arrivals", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def arrivals(receiver: str, kind: str) -> dict[int, float]:
    """seq -> latency (arrival - sent, seconds) of what has arrived of `kind`."""
    rows = httpx.get(receiver + "/arrivals", timeout=60).json()
    return {seq: arrived - sent for k, seq, sent, arrived in rows if k == kind}


# -- the sender ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a paced run POSTs, with which headers, and the body for (seq, sent)."""

    url: str
    headers: dict[str, str]
    body: Callable[[int, float], bytes]
    expect: int


@dataclass(frozen=True)
class Sent:
    """What the sender saw: answer times (from the due time), failures, how late each left."""

    count: int
    answer_ms: list[float]
    failures: Counter[str]
    lag_ms: list[float]


class _Connections:
    """Keep-alive HTTP/1.1 connections to one origin, opened on demand up to a cap."""

    def __init__(self, target: Target, max_connections: int) -> None:
        parts = urlsplit(target.url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in target.headers.items()]
        self._head = ("\r\n".join(lines) + "\r\n").encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, body: bytes) -> int:
        """POST `body`; the answer's status. A kept-alive connection the server has closed
        meanwhile (uvicorn drops idle ones after 5 s) is replaced, and the request sent again."""
        async with self._slots:
            while True:
                reused = bool(self._idle)
                if reused:
                    reader, writer = self._idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(self._host, self._port)
                try:
                    writer.write(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                    status_line = await reader.readline()
                    if not status_line and reused:
                        writer.close()
                        continue
                    status = int(status_line.split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    await reader.readexactly(length)
                except BaseException:
                    writer.close()
                    raise
                self._idle.append((reader, writer))
                return status

    def close(self) -> None:
        """Close the idle connections."""
        for _, writer in self._idle:
            writer.close()


async def paced(
    target: Target, *, rate: float, seconds: float, max_connections: int = 1000
) -> Sent:
    """POST `rate * seconds` requests, request i due at start + i/rate, each in its own task."""
    connections = _Connections(target, max_connections)
    answer_ms: list[float] = []
    lag_ms: list[float] = []
    failures: Counter[str] = Counter()

    async def one(seq: int, due: float) -> None:
        lag_ms.append((time.monotonic() - due) * 1e3)
        try:
            async with asyncio.timeout(120):
                status = await connections.post(target.body(seq, due))
            if status != target.expect:
                failures[f"HTTP {status}"] += 1
        except (OSError, ValueError, IndexError, TimeoutError, asyncio.IncompleteReadError) as exc:
            failures[type(exc).__name__] += 1
        answer_ms.append((time.monotonic() - due) * 1e3)

    count = int(rate * seconds)
    start = time.monotonic() + 0.1
    tasks = []
    for seq in range(count):
        due = start + seq / rate
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(seq, due)))
    await asyncio.gather(*tasks)
    connections.close()
    return Sent(count, answer_ms, failures, lag_ms)
