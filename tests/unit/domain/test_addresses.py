"""Which addresses outgoing requests may dial: each named range, both families, embedded forms."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from tidings.domain.addresses import refusal_reason


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # IPv4: each named range, at its edges where an off-by-one would matter.
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address under test, not a bind)
        ("0.1.2.3", "this network"),
        ("0.255.255.255", "this network"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("169.254.0.1", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.1", "IETF protocol assignments"),
        ("192.0.0.9", "IETF protocol assignments"),  # PCP anycast: is_global says True
        ("192.0.2.10", "documentation"),
        ("192.88.99.1", "6to4 relay anycast"),  # is_global says True
        ("192.168.1.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.7", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.254", "reserved"),
        ("255.255.255.255", "broadcast"),
        # IPv4 public unicast, including neighbours of refused ranges.
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("93.184.216.34", None),
        ("1.0.0.0", None),  # just above 0.0.0.0/8
        ("9.255.255.255", None),  # just below 10.0.0.0/8
        ("11.0.0.0", None),  # just above 10.0.0.0/8
        ("100.63.255.255", None),  # just below 100.64.0.0/10
        ("100.128.0.0", None),  # just above 100.64.0.0/10
        ("126.255.255.255", None),
        ("128.0.0.1", None),
        ("169.253.255.255", None),
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        ("192.0.1.1", None),  # between 192.0.0.0/24 and 192.0.2.0/24
        ("192.167.255.255", None),
        ("192.169.0.0", None),
        ("198.17.255.255", None),
        ("198.20.0.0", None),
        ("223.255.255.255", None),  # just below multicast
    ],
)
def test_ipv4(address: str, expected: str | None) -> None:
    assert refusal_reason(ip_address(address)) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fd12:3456:789a::1", "private"),
        ("fe80::1", "link-local"),
        ("febf:ffff::1", "link-local"),
        ("fe80::1%eth0", "link-local"),  # a zone does not change the verdict
        ("fec0::1", "site-local"),  # deprecated; is_global says True
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),  # global-scope multicast is still multicast
        ("100::1", "discard-only"),
        ("2001::1", "Teredo"),
        ("2001:2::1", "benchmarking"),
        ("2001:10::1", "IETF protocol assignments"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),  # RFC 9637; is_global says True
        ("5f00::1", "segment routing"),  # RFC 9602; is_global says True
        ("64:ff9b:1::1", "local-use NAT64"),
        ("1::1", "reserved"),  # outside global unicast 2000::/3
        ("4000::1", "reserved"),
        ("e000::1", "reserved"),
        # IPv6 public unicast.
        ("2606:4700:4700::1111", None),
        ("2001:4860:4860::8888", None),
        ("2a00:1450:4001::200e", None),
        ("2001:200::1", None),  # just above 2001::/23
    ],
)
def test_ipv6(address: str, expected: str | None) -> None:
    assert refusal_reason(ip_address(address)) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # IPv4-mapped: how a dual-stack socket writes an IPv4 peer.
        ("::ffff:127.0.0.1", "loopback (IPv4-mapped)"),
        ("::ffff:169.254.169.254", "link-local (IPv4-mapped)"),
        ("::ffff:10.1.2.3", "private (IPv4-mapped)"),
        ("::ffff:0.0.0.0", "unspecified (IPv4-mapped)"),
        ("::ffff:8.8.8.8", None),  # is_global says False, yet this is just 8.8.8.8
        # NAT64 well-known prefix: DNS64 answers these for public IPv4 hosts on IPv6-only networks.
        ("64:ff9b::127.0.0.1", "loopback (NAT64)"),
        ("64:ff9b::10.0.0.1", "private (NAT64)"),
        ("64:ff9b::169.254.169.254", "link-local (NAT64)"),
        ("64:ff9b::8.8.8.8", None),
        # 6to4: the IPv4 address sits in bits 16-47.
        ("2002:7f00:1::1", "loopback (6to4)"),
        ("2002:a00:1::", "private (6to4)"),
        ("2002:a9fe:a9fe::1", "link-local (6to4)"),
        ("2002:808:808::1", None),
        # IPv4-compatible (deprecated): refused whatever it embeds.
        ("::127.0.0.1", "loopback (IPv4-compatible)"),
        ("::10.0.0.1", "private (IPv4-compatible)"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("::2", "this network (IPv4-compatible)"),  # embeds 0.0.0.2
    ],
)
def test_ipv6_forms_embedding_ipv4(address: str, expected: str | None) -> None:
    assert refusal_reason(ip_address(address)) == expected
