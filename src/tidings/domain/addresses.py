"""Which IP addresses an outgoing request may dial, and why the others are refused.

Rules and webhooks let users make Tidings send HTTP requests to URLs they choose. Without a guard
that is server-side request forgery: a URL naming 127.0.0.1, 10.0.0.5 or the cloud metadata address
169.254.169.254 would reach services that trust our network position. The guarded HTTP client asks
`refusal_reason` about every address it is about to dial (after its own DNS resolution, so DNS
rebinding cannot slip past), and refuses any address that gets a reason.

`ipaddress.is_global` is the base, but on its own it is not enough: depending on the Python release
it calls 192.0.0.9, 192.88.99.0/24, fec0::/10, 5f00::/16, 3fff::/20 and the IPv4-compatible, 6to4
and NAT64 forms that embed 127.0.0.1 "global", and it never says *why* an address is refused. So the
named ranges below are checked first (each with a short reason a user can act on), addresses that
embed an IPv4 address are judged by the address they embed, every IPv6 address outside global
unicast 2000::/3 is refused, and `not is_global` catches whatever the table does not name.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

_V4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(network), reason)
    for network, reason in (
        ("0.0.0.0/32", "unspecified"),
        ("0.0.0.0/8", "this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # where cloud metadata services live
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(network), reason)
    for network, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001::/23", "IETF protocol assignments"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "private"),  # unique local addresses, IPv6's 10.0.0.0/8
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")


def refusal_reason(ip: IPv4Address | IPv6Address) -> str | None:
    """None when `ip` is a public unicast address an outgoing request may dial, else why not."""
    if isinstance(ip, IPv4Address):
        return _v4_refusal_reason(ip)
    return _v6_refusal_reason(ip)


def _v4_refusal_reason(ip: IPv4Address) -> str | None:
    for network, reason in _V4_RANGES:
        if ip in network:
            return reason
    if not ip.is_global:
        return "reserved"
    return None


def _v6_refusal_reason(ip: IPv6Address) -> str | None:
    embedded = _embedded_v4(ip)
    if embedded is not None:
        form, v4 = embedded
        reason = _v4_refusal_reason(v4)
        if reason is not None:
            return f"{reason} ({form})"
        if form == "IPv4-compatible":
            # Deprecated since 2006 (RFC 4291) and never needed to reach a public host.
            return "IPv4-compatible"
        return None
    for network, reason in _V6_RANGES:
        if ip in network:
            return reason
    if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
        return "reserved"
    return None


def _embedded_v4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address a mapped, NAT64, 6to4 or IPv4-compatible address stands for, if any."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip in _NAT64:
        return "NAT64", IPv4Address(int(ip) & 0xFFFF_FFFF)
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    # :: and ::1 sit inside ::/96 but are IPv6's own unspecified and loopback addresses.
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible", IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None
