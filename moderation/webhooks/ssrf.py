"""The SSRF guard: a webhook URL may only reach the public internet.

A URL's host is turned into addresses the way the connection will see them: numeric forms
are parsed as browsers and libc's inet_aton do (`2130706433`, `0177.0.0.1`, `0x7f.1` are
all 127.0.0.1), names are resolved, and every address is checked. The HTTP transport in
`moderation.webhooks.delivery` then connects to one of the very addresses checked here, so
a name cannot resolve to a public address for the check and a private one for the connect
(DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048

# Named first so that the refusal says what was hit, not only "not global".
_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "cloud metadata service",
    ipaddress.ip_address("169.254.170.2"): "cloud metadata service (ECS)",
    ipaddress.ip_address("100.100.100.200"): "cloud metadata service (Alibaba)",
    ipaddress.ip_address("fd00:ec2::254"): "cloud metadata service (IPv6)",
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class DestinationRefused(Exception):
    """The URL or one of its addresses may not be reached; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_ipv4_number(host: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL host parser's IPv4 rule (what browsers and inet_aton accept): 1 to 4
    dot-separated parts in decimal, octal (leading 0) or hex (0x), the last part filling the
    remaining bytes. None when the host is not numeric; DestinationRefused when it looks
    numeric but is out of range (a browser refuses such a URL too)."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]  # one trailing dot is allowed
    if not parts or len(parts) > 4 or any(p == "" for p in parts):
        return None
    numbers: list[int] = []
    for part in parts:
        value = _parse_ipv4_part(part)
        if value is None:
            return None
        numbers.append(value)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise DestinationRefused(f"host {host!r} is an out-of-range IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


def _parse_ipv4_part(part: str) -> int | None:
    lowered = part.lower()
    try:
        if lowered.startswith("0x"):
            return int(lowered[2:] or "0", 16)
        if len(lowered) > 1 and lowered.startswith("0"):
            return int(lowered[1:], 8)
        if lowered.isdigit():
            return int(lowered)
    except ValueError:
        return None
    return None


def refusal(address: IPAddress) -> str | None:
    """Why this address may not be reached (None: a public address)."""
    if address in _METADATA:
        return _METADATA[address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind, v4 = embedded
            inner = refusal(v4)
            if inner is not None:
                return f"{kind} of {v4} ({inner})"
            if kind == "IPv4-compatible IPv6":
                return "IPv4-compatible IPv6 (deprecated)"
            return None
    checks: list[tuple[bool, str]] = [
        (address.is_unspecified, "unspecified address"),
        (address.is_loopback, "loopback address"),
        (address.is_link_local, "link-local address"),
        (address.is_multicast, "multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "CGNAT address"),
        (address.is_private, "private address"),
        (address.is_reserved, "reserved address"),
        (not address.is_global, "address not globally routable"),
    ]
    for hit, reason in checks:
        if hit:
            return reason
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """IPv6 forms that a host may route to an IPv4 address."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped IPv6", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4 IPv6", address.sixtofour
    if address.teredo is not None:
        return "Teredo IPv6", address.teredo[1]
    for net in _NAT64:
        if address in net:
            return "NAT64 IPv6", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = address.packed
    if packed[:12] == bytes(12) and int(address) > 1:
        return "IPv4-compatible IPv6", ipaddress.IPv4Address(packed[12:])
    return None


@dataclass(frozen=True)
class Guard:
    """What may be reached: public addresses, plus the allowlisted networks (tests and
    deliberate internal receivers). The allowlist matches the address as connected, so
    allowing 127.0.0.1/32 does not also allow ::ffff:127.0.0.1."""

    allow_nets: Sequence[Network] = ()
    allow_http: bool = False

    def check_address(self, address: IPAddress) -> None:
        if any(address.version == net.version and address in net for net in self.allow_nets):
            return
        reason = refusal(address)
        if reason is not None:
            raise DestinationRefused(f"{address} is not allowed: {reason}")

    def check_url(self, url: str) -> tuple[str, int]:
        """Static checks of the URL; returns (host, port) to resolve."""
        if len(url) > MAX_URL_LENGTH:
            raise DestinationRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
        if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
            raise DestinationRefused("the URL contains white space, control characters or '\\'")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise DestinationRefused(f"the URL does not parse: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise DestinationRefused("the URL must use https")
        if scheme == "http" and not self.allow_http:
            raise DestinationRefused("the URL must use https (http is not enabled here)")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise DestinationRefused("the URL must not contain credentials")
        host = parts.hostname or ""
        if not host.isascii():
            # What the resolver would be asked for: "①②⑦.0.0.1" becomes "127.0.0.1".
            try:
                host = host.encode("idna").decode("ascii").lower()
            except UnicodeError as exc:
                raise DestinationRefused(f"host {host!r} is not a valid name") from exc
        if not host:
            raise DestinationRefused("the URL has no host")
        if "%" in host:
            raise DestinationRefused("IPv6 zone identifiers are not allowed")
        return host, port or (443 if scheme == "https" else 80)

    def literal(self, host: str) -> IPAddress | None:
        """The address a numeric host stands for (None for a name)."""
        if ":" in host:
            try:
                return ipaddress.IPv6Address(host)
            except ValueError as exc:
                raise DestinationRefused(f"host {host!r} is not a valid IPv6 address") from exc
        return parse_ipv4_number(host)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address the host stands for, each checked; refused if any one is not
        allowed (a name with one private address among public ones is refused)."""
        literal = self.literal(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise DestinationRefused(f"host {host!r} does not resolve: {exc}") from exc
            addresses = []
            for info in infos:
                raw = str(info[4][0]).split("%", 1)[0]
                address = ipaddress.ip_address(raw)
                if address not in addresses:
                    addresses.append(address)
            if not addresses:
                raise DestinationRefused(f"host {host!r} has no address")
        for address in addresses:
            try:
                self.check_address(address)
            except DestinationRefused as exc:
                where = "" if literal is not None else f"{host!r} resolves to "
                raise DestinationRefused(f"{where}{exc.reason}") from None
        return addresses

    def check(self, url: str) -> list[IPAddress]:
        """All checks for a URL, with name resolution: at subscription time and again at
        each delivery (where the transport connects only to the returned addresses)."""
        host, port = self.check_url(url)
        return self.resolve(host, port)
