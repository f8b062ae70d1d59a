"""The guarded HTTP client against real servers on loopback: the address guard, limits, reuse, TLS.

The server is a few dozen lines on `asyncio.start_server` rather than an ASGI app under uvicorn: it
must count accepted connections (to prove reuse, and that a refused request never connected) and
record the TLS server name the client sent, neither of which an ASGI app can see.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tidings.actions.guarded_http import (
    GuardedClient,
    HttpPolicy,
    OutgoingRequestError,
)

PRIVATE_OK = HttpPolicy(allow_private=True)
PATTERN = b"0123456789abcdef" * 16_384  # 256 KiB whose bytes show where a cut fell


@dataclass(frozen=True)
class Recorded:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """A minimal HTTP/1.1 server with keep-alive that records requests and answers by path.

    `/redirect` answers 302, `/bytes/N` sends N bytes of PATTERN, `/hang` never answers, `/stall`
    sends its head and half its body, anything else answers 200 "hello" with two Set-Cookie headers.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.connections = 0
        self.server_names: list[str | None] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = asyncio.Event()  # releases the handlers that hang on purpose

    async def start(self, host: str, tls: ssl.SSLContext | None = None) -> None:
        """Listen on an ephemeral port of `host`."""
        if tls is not None:
            tls.sni_callback = self._record_server_name
        self._server = await asyncio.start_server(self._handle, host, 0, ssl=tls)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, drop open connections and wait for every handler to finish."""
        assert self._server is not None
        self._server.close()
        self._stopping.set()
        for writer in list(self._writers):
            writer.close()  # a handler waiting for the next request reads EOF
        await asyncio.gather(*self._handlers)
        await self._server.wait_closed()

    def _record_server_name(
        self, _sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext
    ) -> None:
        self.server_names.append(name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while await self._serve_one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client went away
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.rstrip("\r\n").split("\r\n")
        method, target, _version = request_line.split(" ")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Recorded(method, target, headers, body))
        if target == "/hang":
            await self._stopping.wait()
            return False
        if target == "/stall":  # half a body, then nothing
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            await writer.drain()
            await self._stopping.wait()
            return False
        if target == "/redirect":
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
        elif target.startswith("/bytes/"):
            payload = PATTERN[: int(target.removeprefix("/bytes/"))]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload))
            writer.write(payload)
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nX-Reply: yes\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
                b"Content-Length: 5\r\n\r\nhello"
            )
        await writer.drain()
        return True


ServerFactory = Callable[..., Awaitable[RecordingServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[ServerFactory]:
    """Starts recording servers on demand and stops them all after the test."""
    servers: list[RecordingServer] = []

    async def start(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> RecordingServer:
        server = RecordingServer()
        await server.start(host, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server: ServerFactory) -> RecordingServer:
    """A recording server on 127.0.0.1."""
    return await start_server()


async def _failure(
    client: GuardedClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    timeout_seconds: float | None = None,
) -> OutgoingRequestError:
    """The error a GET of `url` raises."""
    with pytest.raises(OutgoingRequestError) as caught:
        await client.request("GET", url, headers=headers, timeout_seconds=timeout_seconds)
    return caught.value


async def test_a_request_and_its_response_arrive_intact(server: RecordingServer) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        result = await client.request(
            "post",  # methods are upper-cased
            f"http://127.0.0.1:{server.port}/echo?x=1",
            headers={"Authorization": "Bearer s3cret", "X-Custom": "a"},
            body=b'{"a": 1}',
        )
    assert (result.status, result.body, result.truncated) == (200, b"hello", False)
    assert result.headers == {
        "x-reply": "yes",
        "set-cookie": "a=1, b=2",  # repeated headers are joined
        "content-length": "5",
    }
    assert result.remote_ip == "127.0.0.1"
    assert result.elapsed_ms > 0
    assert server.requests == [
        Recorded(
            method="POST",
            target="/echo?x=1",
            headers={
                "host": f"127.0.0.1:{server.port}",
                "accept": "*/*",
                "accept-encoding": "identity",  # so the captured body is bounded as sent
                "user-agent": "Tidings",
                "authorization": "Bearer s3cret",
                "x-custom": "a",
                "content-length": "8",
            },
            body=b'{"a": 1}',
        )
    ]


async def test_a_name_is_resolved_and_dialled_when_private_targets_are_allowed(
    server: RecordingServer,
) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        result = await client.request("GET", f"http://localhost:{server.port}/")
    assert (result.status, result.remote_ip) == (200, "127.0.0.1")
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


@pytest.mark.parametrize(
    ("url", "where", "reason"),
    [
        ("http://127.0.0.1:{port}/", "127.0.0.1:{port}", "loopback"),
        ("https://127.0.0.1:{port}/", "127.0.0.1:{port}", "loopback"),
        ("http://localhost:{port}/", "localhost:{port}", "loopback"),  # a name, resolved by us
        ("http://[::1]:{v6port}/", "[::1]:{v6port}", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254:80", "link-local"),
        ("http://10.0.0.1/", "10.0.0.1:80", "private"),
        ("http://100.64.0.1/", "100.64.0.1:80", "carrier-grade NAT"),
        ("http://127.1:{port}/", "127.1:{port}", "loopback"),  # the resolver expands it
        ("http://2130706433:{port}/", "2130706433:{port}", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.0.0.1:{port}/", "0x7f.0.0.1:{port}", "loopback"),  # hexadecimal octet
        ("http://0.0.0.0:{port}/", "0.0.0.0:{port}", "unspecified"),  # Linux dials loopback
        (
            "http://[::ffff:127.0.0.1]:{port}/",
            "[::ffff:127.0.0.1]:{port}",
            "loopback (IPv4-mapped)",
        ),
    ],
)
async def test_non_public_targets_are_refused_before_connecting(
    start_server: ServerFactory, url: str, where: str, reason: str
) -> None:
    server, server_v6 = await start_server("127.0.0.1"), await start_server("::1")
    ports = {"port": server.port, "v6port": server_v6.port}
    async with GuardedClient(HttpPolicy()) as client:
        error = await _failure(client, url.format(**ports))
    assert error.kind == "refused"
    assert str(error) == (
        f"refusing to connect to {where.format(**ports)}: the address is {reason}, not public"
    )
    assert (server.connections, server_v6.connections) == (0, 0)


async def test_a_refusal_is_logged_without_headers(server: RecordingServer) -> None:
    async with GuardedClient(HttpPolicy()) as client:
        with structlog.testing.capture_logs() as logs:
            await _failure(
                client, f"http://127.0.0.1:{server.port}/", headers={"Authorization": "s3cret"}
            )
    assert logs == [
        {
            "event": "outgoing_request_refused",
            "log_level": "info",
            "host": "127.0.0.1",
            "port": server.port,
            "reasons": ["loopback"],
        }
    ]


async def test_a_redirect_is_returned_not_followed(server: RecordingServer) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        result = await client.request("GET", f"http://127.0.0.1:{server.port}/redirect")
    assert (result.status, result.headers["location"], result.body) == (302, "/elsewhere", b"")
    assert [request.target for request in server.requests] == ["/redirect"]


@pytest.mark.parametrize(
    ("size", "body", "truncated", "connections"),
    [
        # Cut short: the rest is never read, so the connection is closed, not pooled.
        (200_000, PATTERN[:1000], True, {2}),
        # One byte over: the body may have arrived whole with the head (then the connection is
        # clean and may be pooled) or not (then it is closed).
        (1001, PATTERN[:1000], True, {1, 2}),
        # Exactly at the limit: complete, and the connection goes back to the pool.
        (1000, PATTERN[:1000], False, {1}),
        (0, b"", False, {1}),
    ],
)
async def test_the_response_body_is_captured_up_to_the_limit(
    server: RecordingServer, size: int, body: bytes, truncated: bool, connections: set[int]
) -> None:
    policy = HttpPolicy(allow_private=True, max_response_bytes=1000)
    async with GuardedClient(policy) as client:
        result = await client.request("GET", f"http://127.0.0.1:{server.port}/bytes/{size}")
        follow_up = await client.request("GET", f"http://127.0.0.1:{server.port}/")
    assert (result.body, result.truncated) == (body, truncated)
    assert follow_up.body == b"hello"
    assert server.connections in connections


async def test_a_request_body_over_the_limit_is_never_sent(server: RecordingServer) -> None:
    policy = HttpPolicy(allow_private=True, max_request_bytes=10)
    url = f"http://127.0.0.1:{server.port}/"
    async with GuardedClient(policy) as client:
        with pytest.raises(OutgoingRequestError) as caught:
            await client.request("POST", url, body=b"x" * 11)
        at_limit = await client.request("POST", url, body=b"x" * 10)
    assert (caught.value.kind, str(caught.value)) == (
        "invalid",
        "request body is 11 bytes; the limit is 10",
    )
    assert at_limit.status == 200
    assert [request.body for request in server.requests] == [b"x" * 10]


@pytest.mark.parametrize(
    ("policy", "timeout_seconds"),
    [
        (HttpPolicy(allow_private=True), 0.3),
        (HttpPolicy(allow_private=True, default_timeout_seconds=0.3), None),
        (HttpPolicy(allow_private=True, max_timeout_seconds=0.3), 30.0),  # capped by the policy
    ],
)
async def test_a_server_that_never_answers_times_out(
    server: RecordingServer, policy: HttpPolicy, timeout_seconds: float | None
) -> None:
    async with GuardedClient(policy) as client:
        started = time.perf_counter()
        error = await _failure(
            client, f"http://127.0.0.1:{server.port}/hang", timeout_seconds=timeout_seconds
        )
        elapsed = time.perf_counter() - started
    assert (error.kind, str(error)) == (
        "timeout",
        f"no complete response from 127.0.0.1:{server.port} within 0.3 s",
    )
    assert 0.3 <= elapsed < 0.6
    assert len(server.requests) == 1


async def test_a_body_that_stalls_times_out_on_the_total_deadline(server: RecordingServer) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        started = time.perf_counter()
        error = await _failure(client, f"http://127.0.0.1:{server.port}/stall", timeout_seconds=0.3)
        elapsed = time.perf_counter() - started
        follow_up = await client.request("GET", f"http://127.0.0.1:{server.port}/")
    assert error.kind == "timeout"
    assert 0.3 <= elapsed < 0.6
    assert follow_up.status == 200
    assert server.connections == 2  # the stalled connection was dropped, not reused


async def test_a_closed_port_fails_to_connect() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with GuardedClient(PRIVATE_OK) as client:
        error = await _failure(client, f"http://127.0.0.1:{port}/")
    assert (error.kind, str(error)) == (
        "connect",
        f"could not connect to 127.0.0.1:{port}: connection refused",
    )


async def test_an_unknown_host_fails_to_connect() -> None:
    async with GuardedClient(HttpPolicy()) as client:
        error = await _failure(client, "http://no-such-host.invalid/")  # RFC 6761: never resolves
    assert (error.kind, str(error)) == ("connect", "could not resolve host 'no-such-host.invalid'")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://{host}/file", "URL scheme 'ftp' is not allowed; use http or https"),
        ("file:///etc/passwd", "URL scheme 'file' is not allowed; use http or https"),
        ("//{host}/", "URL scheme '' is not allowed; use http or https"),  # scheme-relative
        (
            "http://user:pass@{host}/",
            "credentials in the URL are not allowed; send them in a header",
        ),
        ("http://user@{host}/", "credentials in the URL are not allowed; send them in a header"),
        ("http:///path", "the URL has no host"),
        ("http://[::1/", "not a valid URL"),
    ],
)
async def test_invalid_urls_are_refused_before_connecting(
    server: RecordingServer, url: str, message: str
) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        error = await _failure(client, url.format(host=f"127.0.0.1:{server.port}"))
    assert (error.kind, str(error)) == ("invalid", message)
    assert server.connections == 0


@pytest.mark.parametrize(
    ("method", "headers", "timeout_seconds", "message"),
    [
        ("GET / HTTP/1.1", {}, None, "the HTTP method is not a valid token"),
        ("GET", {"X-Token": "s3cret\r\nX-Injected: 1"}, None, "header 'X-Token' has a value with "
         "characters HTTP does not allow (control characters or non-ASCII)"),
        ("GET", {"X-Token": "s3cret\x00"}, None, "header 'X-Token' has a value with "
         "characters HTTP does not allow (control characters or non-ASCII)"),
        ("GET", {"X-Token": "s3cret é"}, None, "header 'X-Token' has a value with "
         "characters HTTP does not allow (control characters or non-ASCII)"),
        ("GET", {"X s3cret": "x"}, None, "a header name is not a valid HTTP token"),
        ("GET", {"Content-Length": "3"}, None,
         "header 'Content-Length' is derived from the body and cannot be set"),
        ("GET", {"Transfer-Encoding": "chunked"}, None,
         "header 'Transfer-Encoding' is derived from the body and cannot be set"),
        ("GET", {}, 0.0, "timeout must be a positive number of seconds"),
        ("GET", {}, -1.0, "timeout must be a positive number of seconds"),
        ("GET", {}, float("nan"), "timeout must be a positive number of seconds"),
    ],
)  # fmt: skip
async def test_invalid_requests_are_refused_without_echoing_secrets(
    server: RecordingServer,
    method: str,
    headers: dict[str, str],
    timeout_seconds: float | None,
    message: str,
) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        with pytest.raises(OutgoingRequestError) as caught:
            await client.request(
                method,
                f"http://127.0.0.1:{server.port}/",
                headers=headers,
                timeout_seconds=timeout_seconds,
            )
    assert (caught.value.kind, str(caught.value)) == ("invalid", message)
    assert server.connections == 0


async def test_sequential_requests_reuse_one_connection(server: RecordingServer) -> None:
    async with GuardedClient(PRIVATE_OK) as client:
        for _ in range(200):
            result = await client.request("GET", f"http://127.0.0.1:{server.port}/")
            assert result.status == 200
    assert len(server.requests) == 200
    # Each response is read to its end before the next request, so the one keep-alive
    # connection is always free again.
    assert server.connections == 1


async def test_proxy_variables_in_the_environment_are_ignored(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, proxy = await start_server(), await start_server()
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
    async with GuardedClient(PRIVATE_OK) as client:
        result = await client.request("GET", f"http://127.0.0.1:{target.port}/")
    assert result.status == 200
    assert (target.connections, proxy.connections) == (1, 0)


def _write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for `localhost` it signed: (ca, certificate, key) files."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidings test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The test CA, a `localhost` certificate it signed and that certificate's key."""
    return _write_certificates(tmp_path)


@pytest.fixture
async def tls_server(
    start_server: ServerFactory, certificates: tuple[Path, Path, Path]
) -> RecordingServer:
    """A recording server on 127.0.0.1 speaking TLS with a certificate for `localhost`."""
    _, certificate, key = certificates
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return await start_server("127.0.0.1", context)


@pytest.fixture
def trusting(certificates: tuple[Path, Path, Path]) -> ssl.SSLContext:
    """A client TLS context that trusts only the test CA."""
    return ssl.create_default_context(cafile=certificates[0])


async def test_tls_dials_the_checked_address_but_verifies_the_host_name(
    tls_server: RecordingServer, trusting: ssl.SSLContext
) -> None:
    async with GuardedClient(PRIVATE_OK, ssl_context=trusting) as client:
        result = await client.request("GET", f"https://localhost:{tls_server.port}/")
    assert (result.status, result.body, result.remote_ip) == (200, b"hello", "127.0.0.1")
    assert tls_server.server_names == ["localhost"]  # SNI carries the name, not the IP


async def test_tls_to_an_address_the_certificate_does_not_name_fails(
    tls_server: RecordingServer, trusting: ssl.SSLContext
) -> None:
    async with GuardedClient(PRIVATE_OK, ssl_context=trusting) as client:
        error = await _failure(client, f"https://127.0.0.1:{tls_server.port}/")
    assert (error.kind, str(error)) == (
        "connect",
        f"could not connect to 127.0.0.1:{tls_server.port}: TLS certificate verification failed",
    )
    assert tls_server.requests == []
