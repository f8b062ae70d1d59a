"""A real HTTP server on loopback that records what it receives and answers as told.

It runs in a thread (the standard library's threading server), so it serves tests that run the
worker in-process on the event loop and tests that run workers as subprocesses alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Answer:
    """What to answer with."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    """The server's address and everything it has received so far."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = field(default=lambda _r: Answer())
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Received]:
        """A copy of the requests so far."""
        with self.lock:
            return list(self.requests)


class Recording(Protocol):
    """What a handler needs of a receiver: where to record, and how to answer."""

    @property
    def requests(self) -> list[Received]:
        """Every request so far, appended to under `lock`."""
        ...

    @property
    def answer(self) -> Callable[[Received], Answer]:
        """How to answer a request."""
        ...

    @property
    def lock(self) -> threading.Lock:
        """Guards `requests`."""
        ...


def request_handler(receiver: Recording) -> type[BaseHTTPRequestHandler]:
    """A handler class that records each request in `receiver` and answers as it says."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
                at=time.monotonic(),
            )
            with receiver.lock:
                receiver.requests.append(request)
            answer = receiver.answer(request)
            if answer.delay_seconds:
                time.sleep(answer.delay_seconds)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test asserts on `requests`."""

    return Handler


@contextmanager
def running_receiver(answer: Callable[[Received], Answer] | None = None) -> Iterator[Receiver]:
    """A started receiver on 127.0.0.1 and a free port; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    if answer is not None:
        receiver.answer = answer
    server.RequestHandlerClass = request_handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
