"""A webhook receiver for delivery fault tests: a real HTTP server on a fixed loopback port that
can be closed (the port refuses connections) and opened again on the same port, keeping what it
received across both.

Like `tests.receivers` it is the standard library's threading server, in a thread of the test
process, so it serves workers that run as subprocesses; unlike it, the port outlives the server.
Each answer is HTTP/1.0 with the connection closed after it, so no kept-alive connection lets a
request through while the receiver is closed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from tests.receivers import Answer, Received, request_handler


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ReopenableReceiver:
    """Records every request; answers as `answer` says; can be closed and opened again."""

    port: int = field(default_factory=_free_port)
    answer: Callable[[Received], Answer] = field(default=lambda _r: Answer())
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Its base URL (the same while closed)."""
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> list[Received]:
        """A copy of the requests so far."""
        with self.lock:
            return list(self.requests)

    def open(self) -> None:
        """Listen on the port (again)."""
        assert self._server is None, "already open"
        server = ThreadingHTTPServer(("127.0.0.1", self.port), request_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening: connections to the port are refused until `open`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


@contextmanager
def reopenable_receiver(
    answer: Callable[[Received], Answer] | None = None,
) -> Iterator[ReopenableReceiver]:
    """An opened receiver on a free port; closed on exit."""
    receiver = ReopenableReceiver()
    if answer is not None:
        receiver.answer = answer
    receiver.open()
    try:
        yield receiver
    finally:
        receiver.close()
