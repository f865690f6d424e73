"""Which hosts and addresses an outbound request may reach: public ones only, whatever the notation (SSRF).

A host is read the way resolvers and browsers read it: `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1`
are all 127.0.0.1 (inet_aton's forms), so every all-numeric host is parsed here as an address and never
handed to a resolver. An IPv6 address that carries an IPv4 one (mapped, compatible, 6to4, NAT64) is
judged by the IPv4 address it reaches as well as by its own range.
"""
from __future__ import annotations

import ipaddress
import re

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges not covered by the stdlib flags (is_private & co.) that still lead inside a network.
_EXTRA_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
    "192.0.0.0/24",  # IETF protocol assignments
    "198.18.0.0/15",  # benchmarking
    "fd00:ec2::254/128",  # EC2's IPv6 instance metadata (inside fc00::/7 too; named for the reader)
    "2001::/23",  # IETF protocol assignments, Teredo included (its client address is obfuscated)
))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_PART = re.compile(r"^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$")
_NUMERIC_LABEL = re.compile(r"^([0-9]+|0x[0-9a-f]*)$")
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class UnsafeHost(ValueError):
    """The host cannot be used: the message says why, for the person who typed it."""


def origin_of(url: str) -> str | None:
    """A URL's origin, `scheme://host[:port]` (what CSP and the Origin header name), or None when it has none."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def host_address(host: str) -> IpAddress | None:
    """The address a host literally is (any IPv4 notation, or IPv6), or None for a domain name.

    Raises UnsafeHost for a name that is neither a valid address nor a valid domain name.
    """
    host = host.lower()
    if "%" in host:
        raise UnsafeHost("is not a valid host name")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeHost("is not a valid IPv6 address") from None
    labels = (host[:-1] if host.endswith(".") else host).split(".")
    if _NUMERIC_LABEL.match(labels[-1]):  # what a browser reads as an IPv4 address, or refuses
        return _ipv4_any_notation(labels)
    if len(host) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise UnsafeHost("is not a valid host name")
    return None


def _ipv4_any_notation(labels: list[str]) -> ipaddress.IPv4Address:
    """inet_aton's reading: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the last fills the rest."""
    if len(labels) > 4 or not all(_IPV4_PART.match(label) for label in labels):
        raise UnsafeHost("is not a valid IPv4 address")
    values = [int(label, 16) if label.startswith("0x") else int(label, 8 if label.startswith("0") else 10)
              for label in labels]
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        raise UnsafeHost("is not a valid IPv4 address")
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def is_public(address: IpAddress) -> bool:
    """True only for a globally routable unicast address outside every blocked range."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
        if embedded is not None and address.ipv4_mapped is not None:
            return True  # ::ffff:8.8.8.8 is 8.8.8.8 on a dual-stack socket
    flags = (address.is_private, address.is_loopback, address.is_link_local, address.is_multicast,
             address.is_reserved, address.is_unspecified)
    return address.is_global and not any(flags) and not any(address in net for net in _EXTRA_BLOCKED
                                                            if net.version == address.version)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64) or int(address) >> 32 == 0:  # NAT64, or IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refuse_local_name(host: str) -> None:
    """Names that mean this machine or a private network whatever DNS says."""
    name = host.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES):
        raise UnsafeHost("names this machine or a private network")
