"""The one HTTP client every outgoing request of Tidings goes through.

Users choose the URLs that actions and webhook deliveries call, so each request is a way into
whatever the Tidings host can reach. This client bounds what such a request may do: http and https
only, no credentials in the URL, no redirects followed (a 3xx is a result; the caller decides), a
bounded request body, a total deadline, and only the first `max_response_bytes` of the response
kept.

The address guard is the reason this module exists. Checking a URL's host name and then letting the
HTTP library resolve it again is open to DNS rebinding: the second answer can be 127.0.0.1 or the
cloud metadata address. So resolution and the check happen in one place, at connect time, on the
address actually dialled: `_GuardedBackend` is an httpcore network backend whose `connect_tcp`
resolves the host itself, asks `tidings.domain.addresses.refusal_reason` about every address and
dials only allowed ones. httpcore keeps the URL's host name for TLS (it passes the origin host as
`server_hostname` to `start_tls`), so SNI and certificate checks are unchanged while the socket goes
to a checked IP.

httpx is used, not replaced: it provides URL parsing, header handling and response streaming, and
httpcore's pool keeps connections alive so hundreds of requests a second to one host reuse a few
sockets. httpx's own transport cannot take a network backend, so `_PoolTransport` wraps an
`httpcore.AsyncConnectionPool` in a few lines instead of reaching into httpx's private attributes.
The client never trusts the environment (`trust_env=False`): an `HTTP_PROXY` would dial on our
behalf and bypass the guard.

Header values and bodies are never logged nor put in error messages (they hold tokens); messages
name host and port but not path or query, which can be secret too (a Slack webhook URL is one).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from types import TracebackType
from typing import Literal, Self

import httpcore
import httpx
import structlog

from tidings.domain.addresses import refusal_reason

log = structlog.get_logger(__name__)

ErrorKind = Literal["refused", "invalid", "timeout", "connect", "protocol"]

# Room for hundreds of requests a second to a few hosts; idle sockets are dropped after 5 s, below
# the keep-alive timeout of common servers, so we rarely write to a socket the server just closed.
_MAX_CONNECTIONS = 100
_KEEPALIVE_EXPIRY_SECONDS = 5.0

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods and header names
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, space and tab: no CR/LF/NUL
# Framing is derived from the body we send; a caller's own value could desynchronise the stream.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True)
class HttpPolicy:
    """What outgoing requests may do; one policy per client."""

    allow_private: bool = False
    max_request_bytes: int = 1_048_576
    max_response_bytes: int = 65_536
    default_timeout_seconds: float = 10.0
    max_timeout_seconds: float = 60.0
    user_agent: str = "Tidings"


@dataclass(frozen=True)
class HttpResult:
    """A response, whatever its status: 3xx, 4xx and 5xx are results for the caller to judge."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    elapsed_ms: float
    remote_ip: str


class OutgoingRequestError(Exception):
    """A request that got no response; `str(error)` is safe to show users (no header values)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host itself and dials only addresses `refusal_reason` allows."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first allowed address `host` resolves to that accepts the connection."""
        last_error: httpcore.ConnectError | None = None
        for address in await self._allowed_addresses(host, port):
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:  # try the next address, as happy eyeballs would
                last_error = exc
        assert last_error is not None  # _allowed_addresses never returns an empty list
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a Unix socket is a local service by definition."""
        raise OutgoingRequestError("refused", "Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Wait, as the pool's retry backoff asks."""
        await self._inner.sleep(seconds)

    async def _allowed_addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host` we may dial, in resolver order; raises when there are none."""
        # An IPv6 literal's zone arrives URL-encoded (fe80::1%25eth0); the resolver wants it raw.
        name = host.replace("%25", "%", 1) if ":" in host else host
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise OutgoingRequestError("connect", f"could not resolve host {host!r}") from exc
        allowed: list[str] = []
        reasons: list[str] = []
        for *_, sockaddr in infos:
            address = str(sockaddr[0])
            reason = refusal_reason(ip_address(address))
            if reason is None or self._allow_private:
                if address not in allowed:
                    allowed.append(address)
            elif reason not in reasons:
                reasons.append(reason)
        if allowed:
            return allowed
        log.info("outgoing_request_refused", host=host, port=port, reasons=reasons)
        raise OutgoingRequestError(
            "refused",
            f"refusing to connect to {_authority(host, port)}: "
            f"the address is {' / '.join(reasons)}, not public",
        )


class _ResponseStream(httpx.AsyncByteStream):
    """An httpcore response body as httpx expects it; closing it releases the connection."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._response.aiter_stream():
            yield part

    async def aclose(self) -> None:
        """Release the connection: back to the pool if the body was read, else closed."""
        await self._response.aclose()


class _PoolTransport(httpx.AsyncBaseTransport):
    """httpx over an httpcore pool with our backend; httpcore errors pass through untranslated."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the pool and return its streaming response."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        response = await self._pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()


class GuardedClient:
    """Sends outgoing requests under an `HttpPolicy`; share one per process for connection reuse."""

    def __init__(self, policy: HttpPolicy, *, ssl_context: ssl.SSLContext | None = None) -> None:
        # ssl_context: the certificates to trust (an operator's private CA, a test's own); by
        # default certifi's, never the environment's.
        self._policy = policy
        pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=_MAX_CONNECTIONS,
            max_keepalive_connections=_MAX_CONNECTIONS,
            keepalive_expiry=_KEEPALIVE_EXPIRY_SECONDS,
            network_backend=_GuardedBackend(allow_private=policy.allow_private),
        )
        self._client = httpx.AsyncClient(
            transport=_PoolTransport(pool),
            trust_env=False,  # no proxy, netrc or CA bundle from the environment
            follow_redirects=False,
            # identity: a compressed body would be inflated in memory before it could be bounded.
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "identity"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout_seconds: float | None = None,
    ) -> HttpResult:
        """Send one request and capture its response; raises `OutgoingRequestError` without one."""
        target = _checked_url(url)
        method = _checked_method(method)
        request_headers = _checked_headers(headers or {})
        if body is not None and len(body) > self._policy.max_request_bytes:
            raise OutgoingRequestError(
                "invalid",
                f"request body is {len(body)} bytes; the limit is {self._policy.max_request_bytes}",
            )
        timeout = self._timeout(timeout_seconds)
        where = _authority(target.host, target.port or _DEFAULT_PORTS[target.scheme])
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                return await self._send(method, target, request_headers, body, timeout, started)
        except OutgoingRequestError:
            raise
        except (TimeoutError, httpcore.TimeoutException, httpx.TimeoutException) as exc:
            raise OutgoingRequestError(
                "timeout", f"no complete response from {where} within {timeout:g} s"
            ) from exc
        except (httpcore.ConnectError, httpx.ConnectError) as exc:
            raise OutgoingRequestError(
                "connect", f"could not connect to {where}: {_connect_failure(exc)}"
            ) from exc
        except (httpcore.LocalProtocolError, httpx.LocalProtocolError) as exc:
            # Its text may quote a header value, so it is not passed on.
            raise OutgoingRequestError(
                "invalid", f"the request to {where} could not be sent as HTTP"
            ) from exc
        except (httpcore.ProtocolError, httpcore.NetworkError, httpx.TransportError) as exc:
            raise OutgoingRequestError(
                "protocol", f"{where} broke off or answered with malformed HTTP"
            ) from exc

    async def _send(
        self,
        method: str,
        target: httpx.URL,
        headers: Mapping[str, str],
        body: bytes | None,
        phase_timeout: float,
        started: float,
    ) -> HttpResult:
        request = self._client.build_request(
            method, target, headers=headers, content=body, timeout=phase_timeout
        )
        response = await self._client.send(request, stream=True)
        try:
            remote_ip = _remote_ip(response)
            captured, truncated = await self._capture(response)
        finally:
            # Closes the connection if the body was cut short, else returns it to the pool.
            await response.aclose()
        response_headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            name = name.lower()
            previous = response_headers.get(name)
            response_headers[name] = value if previous is None else f"{previous}, {value}"
        return HttpResult(
            status=response.status_code,
            headers=response_headers,
            body=captured,
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            remote_ip=remote_ip,
        )

    async def _capture(self, response: httpx.Response) -> tuple[bytes, bool]:
        """The first `max_response_bytes` of the body (as sent: never decompressed) and whether
        more followed; reading stops as soon as the limit is passed."""
        limit = self._policy.max_response_bytes
        captured = bytearray()
        async for chunk in response.aiter_raw():
            captured += chunk
            if len(captured) > limit:
                return bytes(captured[:limit]), True
        return bytes(captured), False

    def _timeout(self, requested: float | None) -> float:
        """The deadline for the whole request: the caller's or the default, capped by the policy."""
        if requested is None:
            requested = self._policy.default_timeout_seconds
        elif not requested > 0:  # also catches NaN
            raise OutgoingRequestError("invalid", "timeout must be a positive number of seconds")
        return min(requested, self._policy.max_timeout_seconds)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _checked_url(url: str) -> httpx.URL:
    """The parsed URL, if it is absolute http(s) with a host and no credentials."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise OutgoingRequestError("invalid", "not a valid URL") from exc
    if target.scheme not in _DEFAULT_PORTS:
        raise OutgoingRequestError(
            "invalid", f"URL scheme {target.scheme!r} is not allowed; use http or https"
        )
    if target.userinfo:
        raise OutgoingRequestError(
            "invalid", "credentials in the URL are not allowed; send them in a header"
        )
    if not target.host:
        raise OutgoingRequestError("invalid", "the URL has no host")
    return target


def _checked_method(method: str) -> str:
    """The method in upper case, if it is an HTTP token."""
    if not _TOKEN.fullmatch(method):
        raise OutgoingRequestError("invalid", "the HTTP method is not a valid token")
    return method.upper()


def _checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers, if every name is a token, every value is plain ASCII and none sets framing."""
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise OutgoingRequestError("invalid", "a header name is not a valid HTTP token")
        if name.lower() in _FRAMING_HEADERS:
            raise OutgoingRequestError(
                "invalid", f"header {name!r} is derived from the body and cannot be set"
            )
        if not _HEADER_VALUE.fullmatch(value):
            raise OutgoingRequestError(
                "invalid",
                f"header {name!r} has a value with characters HTTP does not allow "
                "(control characters or non-ASCII)",
            )
    return dict(headers)


def _remote_ip(response: httpx.Response) -> str:
    """The IP address the response came from, as the socket reports it."""
    stream = response.extensions.get("network_stream")
    server_addr = stream.get_extra_info("server_addr") if stream is not None else None
    return str(server_addr[0]) if server_addr else ""


def _authority(host: str, port: int) -> str:
    """host:port for messages, with an IPv6 literal in brackets as in a URL."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _connect_failure(exc: BaseException | None) -> str:
    """A short, secret-free cause for a failed connection, from the innermost known error."""
    innermost = "connection failed"
    for _ in range(16):  # a chain is a few links long; the bound guards against a cycle
        if exc is None:
            break
        if isinstance(exc, ssl.SSLCertVerificationError):
            innermost = "TLS certificate verification failed"
        elif isinstance(exc, ssl.SSLError):
            innermost = "TLS handshake failed"
        elif isinstance(exc, ConnectionRefusedError):
            innermost = "connection refused"
        elif isinstance(exc, OSError) and exc.strerror:
            innermost = exc.strerror.lower()
        exc = exc.__cause__ or exc.__context__
    return innermost
