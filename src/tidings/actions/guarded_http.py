"""The one HTTP client every outgoing request of Tidings goes through.

Users choose the URLs that actions and webhook deliveries call, so each request is a way into
whatever the Tidings host can reach. This client bounds what such a request may do: http and https
only, no credentials in the URL, no redirects followed (a 3xx is a result; the caller decides), a
bounded request body, a total deadline, and only the first `max_response_bytes` of the response
kept.

The address guard is the reason this module exists. Checking a URL's host name and then letting the
HTTP library resolve it again is open to DNS rebinding: the second answer can be 127.0.0.1 or the
cloud metadata address. So resolution and the check happen in one place, at connect time, on the
address actually dialled: `_GuardedResolver` is the connector's resolver; it resolves the host,
asks `tidings.domain.addresses.refusal_reason` about every address and hands back only allowed
ones, which are what the connector dials. The URL's host name stays the TLS server name, so SNI and
certificate checks are unchanged while the socket goes to a checked IP. aiohttp dials an IP literal
without asking the resolver, so literals are checked before the request is made (a literal cannot
rebind).

Built on aiohttp, not httpx (which the rest of Tidings uses as a client): one POST to a loopback
receiver costs ~0.3 ms of CPU through aiohttp and ~1.2 ms through httpx/httpcore (their anyio
layers, and a failed `import sniffio` on every call), measured in one process here, and the
guarded httpx client cost about a quarter of the server's CPU in the action-latency benchmark
(BENCHMARKS.md §10). Webhook deliveries at hundreds a second need the cheaper one. aiohttp never
reads proxies or netrc from the environment unless asked (`trust_env` stays False: an
`HTTP_PROXY` would dial on our behalf and bypass the guard).

Header values and bodies are never logged nor put in error messages (they hold tokens); messages
name host and port but not path or query, which can be secret too (a Slack webhook URL is one).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from types import TracebackType
from typing import Literal, Self
from urllib.parse import urlsplit

import aiohttp
import certifi
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from yarl import URL

from tidings.domain.addresses import refusal_reason

log = structlog.get_logger(__name__)

ErrorKind = Literal["refused", "invalid", "timeout", "connect", "protocol"]

# Room for hundreds of requests a second to a few hosts; idle sockets are dropped after 5 s, below
# the keep-alive timeout of common servers, so we rarely write to a socket the server just closed.
_MAX_CONNECTIONS = 100
_KEEPALIVE_EXPIRY_SECONDS = 5.0
_READ_CHUNK = 65_536

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods and header names
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # visible ASCII, space and tab: no CR/LF/NUL
# Framing is derived from the body we send; a caller's own value could desynchronise the stream.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
# aiohttp would add `Content-Type: application/octet-stream` to a body sent without one.
_NO_AUTO_HEADERS = ("Content-Type",)


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


class _AddressGuard:
    """Resolves a host and keeps the addresses `refusal_reason` allows (all, when private
    targets are allowed); raises when none is left."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def allowed(self, host: str, port: int) -> list[tuple[str, int, int]]:
        """(address, family, proto) of `host` we may dial, in resolver order."""
        literal = _literal(host)
        if literal is not None:  # no resolver (nor its thread) for an address as written
            reason = refusal_reason(literal)
            if reason is None or self._allow_private:
                family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
                return [(host, family, socket.IPPROTO_TCP)]
            raise _refused(host, port, [reason])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise OutgoingRequestError("connect", f"could not resolve host {host!r}") from exc
        allowed: list[tuple[str, int, int]] = []
        reasons: list[str] = []
        for family, _type, proto, _name, sockaddr in infos:
            address = str(sockaddr[0])
            reason = refusal_reason(ip_address(address))
            if reason is None or self._allow_private:
                if all(address != seen for seen, _, _ in allowed):
                    allowed.append((address, family, proto))
            elif reason not in reasons:
                reasons.append(reason)
        if allowed:
            return allowed
        raise _refused(host, port, reasons)


class _GuardedResolver(AbstractResolver):
    """The connector's resolver: only addresses the guard allows are ever dialled."""

    def __init__(self, guard: _AddressGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The allowed addresses of `host`, as aiohttp's connector wants them."""
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=address_family,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address, address_family, proto in await self._guard.allowed(host, port)
        ]

    async def close(self) -> None:
        """Nothing to release: resolution is the event loop's getaddrinfo."""


class _Response(aiohttp.ClientResponse):
    """A response that remembers the address it came from: aiohttp lets go of the connection
    as soon as a short body is read, and with it the socket that knew the peer."""

    remote_ip = ""

    async def start(self, connection: aiohttp.connector.Connection) -> Self:
        """Note the peer's address, then read the status line and headers."""
        transport = connection.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        self.remote_ip = str(peer[0]) if peer else ""
        await super().start(connection)
        return self


class GuardedClient:
    """Sends outgoing requests under an `HttpPolicy`; share one per process for connection reuse.

    The aiohttp session is made on first use, inside the event loop that will use it.
    """

    def __init__(self, policy: HttpPolicy, *, ssl_context: ssl.SSLContext | None = None) -> None:
        # ssl_context: the certificates to trust (an operator's private CA, a test's own); by
        # default certifi's, never the environment's.
        self._policy = policy
        self._ssl = ssl_context or ssl.create_default_context(cafile=certifi.where())
        self._guard = _AddressGuard(allow_private=policy.allow_private)
        self._session: aiohttp.ClientSession | None = None

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
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=_GuardedResolver(self._guard),
                ssl=self._ssl,
                limit=_MAX_CONNECTIONS,
                keepalive_timeout=_KEEPALIVE_EXPIRY_SECONDS,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxy or netrc from the environment
                auto_decompress=False,  # a compressed body would be inflated before being bounded
                # identity: ask for the body as it is, so the bound applies to what is sent.
                headers={"User-Agent": self._policy.user_agent, "Accept-Encoding": "identity"},
                cookie_jar=aiohttp.DummyCookieJar(),  # no state carried from one request to another
                response_class=_Response,
            )
        return self._session

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
        host, port = str(target.host), int(target.port or _DEFAULT_PORTS[target.scheme])
        where = _authority(urlsplit(url).hostname or host, port)  # as the URL spells it
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                if is_ip_address(host):  # the connector dials literals without resolving them
                    await self._guard.allowed(host, port)
                return await self._send(method, target, request_headers, body, timeout, started)
        except OutgoingRequestError as exc:
            if exc.kind == "refused":  # name the host as the URL spelt it
                raise OutgoingRequestError("refused", _respelt(str(exc), where)) from None
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise OutgoingRequestError(
                "timeout", f"no complete response from {where} within {timeout:g} s"
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise OutgoingRequestError("invalid", "not a valid URL") from exc
        except aiohttp.ClientConnectorError as exc:
            raise OutgoingRequestError(
                "connect", f"could not connect to {where}: {_connect_failure(exc)}"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            # Its text may quote a header value, so it is not passed on.
            raise OutgoingRequestError(
                "protocol", f"{where} broke off or answered with malformed HTTP"
            ) from exc

    async def _send(
        self,
        method: str,
        target: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        deadline_seconds: float,
        started: float,
    ) -> HttpResult:
        response = await self._client().request(
            method,
            target,
            headers=headers,
            data=body,
            allow_redirects=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=deadline_seconds),
        )
        try:
            captured, truncated = await self._capture(response)
        except BaseException:
            response.close()  # the connection is in an unknown state: never reuse it
            raise
        if truncated:
            response.close()  # the rest is unread: close rather than pool the connection
        else:
            response.release()
        response_headers: dict[str, str] = {}
        for raw_name, raw_value in response.raw_headers:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            previous = response_headers.get(name)
            response_headers[name] = value if previous is None else f"{previous}, {value}"
        return HttpResult(
            status=response.status,
            headers=response_headers,
            body=captured,
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            remote_ip=response.remote_ip if isinstance(response, _Response) else "",
        )

    async def _capture(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """The first `max_response_bytes` of the body (as sent: never decompressed) and whether
        more followed; reading stops as soon as the limit is passed."""
        limit = self._policy.max_response_bytes
        captured = bytearray()
        while chunk := await response.content.read(_READ_CHUNK):
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


def _checked_url(url: str) -> URL:
    """The parsed URL, if it is absolute http(s) with a host and no credentials."""
    try:
        target = URL(url)
        host = target.host
    except (ValueError, TypeError) as exc:
        raise OutgoingRequestError("invalid", "not a valid URL") from exc
    if target.scheme not in _DEFAULT_PORTS:
        raise OutgoingRequestError(
            "invalid", f"URL scheme {target.scheme!r} is not allowed; use http or https"
        )
    if target.user is not None or target.password is not None:
        raise OutgoingRequestError(
            "invalid", "credentials in the URL are not allowed; send them in a header"
        )
    if not host:
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


def _refused(host: str, port: int, reasons: list[str]) -> OutgoingRequestError:
    """The error for a host none of whose addresses may be dialled (logged, without headers)."""
    log.info("outgoing_request_refused", host=host, port=port, reasons=reasons)
    return OutgoingRequestError(
        "refused",
        f"refusing to connect to {_authority(host, port)}: "
        f"the address is {' / '.join(reasons)}, not public",
    )


def _literal(host: str) -> IPv4Address | IPv6Address | None:
    """The address a canonical IP literal names; None for names and other spellings (`127.1`,
    `0x7f.0.0.1`), which the resolver expands."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def _authority(host: str, port: int) -> str:
    """host:port for messages, with an IPv6 literal in brackets as in a URL."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _respelt(message: str, where: str) -> str:
    """A refusal naming `where` (the URL's own spelling of host and port)."""
    _, _, reason = message.partition(": ")
    return f"refusing to connect to {where}: {reason}"


def _connect_failure(exc: BaseException | None) -> str:
    """A short, secret-free cause for a failed connection, from the innermost known error."""
    innermost = "connection failed"
    for _ in range(16):  # a chain is a few links long; the bound guards against a cycle
        if exc is None:
            break
        if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
            return "TLS certificate verification failed"
        if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
            innermost = "TLS handshake failed"
        elif isinstance(exc, ConnectionRefusedError):
            innermost = "connection refused"
        elif isinstance(exc, OSError) and exc.strerror:
            innermost = exc.strerror.lower()
        if isinstance(exc, aiohttp.ClientConnectorError) and exc.__cause__ is None:
            exc = exc.os_error
        else:
            exc = exc.__cause__ or exc.__context__
    return innermost
