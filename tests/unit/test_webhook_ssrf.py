"""The SSRF guard refuses every non-public destination before any connection is made:
numeric host forms as browsers and libc read them, IPv6 embeddings of IPv4, metadata
addresses, and names that resolve to any such address. Name resolution is faked (no DNS
query leaves the machine) and every socket connect is recorded and refused."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from moderation.webhooks.delivery import Timeouts, send
from moderation.webhooks.ssrf import DestinationRefused, Guard, parse_ipv4_number

FAKE_DNS = {
    "internal.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "loop.test": ["127.0.0.1"],
    "loop6.test": ["::1"],
    "mixed.test": ["93.184.216.34", "192.168.1.10"],
    "cgnat.test": ["100.64.0.7"],
    "mapped.test": ["::ffff:10.0.0.1"],
    "ula.test": ["fd12:3456::1"],
    "public.test": ["93.184.216.34"],
    "public6.test": ["2606:2800:220:1:248:1893:25c8:1946"],
}

REFUSED_URLS = [
    # loopback in every spelling
    "https://127.0.0.1/",
    "https://127.1/",
    "https://127.0.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0x7f.1/",
    "https://0x7F.0.0.1/",
    "https://0177.0.0.1/",
    "https://0177.1/",
    "https://017700000001/",
    "https://0x7f.0x0.0x0.0x1/",
    "https://127.0.0.1./",
    "https://127.255.255.254/",
    "https://[::1]/",
    "https://[0:0:0:0:0:0:0:1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://[2002:7f00:1::]/",
    "https://[64:ff9b::127.0.0.1]/",
    "https://localhost/",
    "https://loop.test/",
    "https://loop6.test/",
    "https://①②⑦.0.0.1/",
    # unspecified
    "https://0.0.0.0/",
    "https://0/",
    "https://0x0/",
    "https://[::]/",
    # private
    "https://10.0.0.1/",
    "https://012.0.0.1/",
    "https://167772161/",
    "https://172.16.0.1/",
    "https://192.168.0.1/",
    "https://0xc0.0xa8.0.1/",
    "https://3232235521/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:c0a8:1]/",
    "https://[fd00::1]/",
    "https://[fc00::1]/",
    "https://internal.test/",
    "https://mixed.test/",
    "https://mapped.test/",
    "https://ula.test/",
    # link-local and cloud metadata
    "https://169.254.169.254/latest/meta-data/",
    "https://0xa9fea9fe/",
    "https://2852039166/",
    "https://0251.0376.0251.0376/",
    "https://169.254.43518/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[2002:a9fe:a9fe::]/",
    "https://[fd00:ec2::254]/",
    "https://[fe80::1]/",
    "https://169.254.170.2/v2/credentials",
    "https://metadata.test/",
    "https://100.100.100.200/",
    # CGNAT, multicast, reserved, benchmark, documentation
    "https://100.64.0.1/",
    "https://100.127.255.254/",
    "https://cgnat.test/",
    "https://224.0.0.1/",
    "https://239.255.255.250/",
    "https://[ff02::1]/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://198.18.0.1/",
    "https://192.0.2.1/",
    "https://[2001:db8::1]/",
    # malformed or not allowed at all
    "https://256.0.0.1/",
    "https://0x100000000/",
    "http://93.184.216.34/",
    "ftp://93.184.216.34/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "https://user:pass@93.184.216.34/",
    "https://93.184.216.34@127.0.0.1/",
    "https:///nohost",
    "https://[fe80::1%25eth0]/",
    "https://does-not-exist.test/",
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fake DNS from FAKE_DNS (libc's numeric forms still parse) and a refused, recorded
    connect: the tests prove that nothing is ever connected to."""
    attempts: list[Any] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in FAKE_DNS:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port or 0),
                )
                for a in FAKE_DNS[name]
            ]
        if name == "localhost":
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        try:  # numeric forms only: never a query to a resolver
            return real_getaddrinfo(host, port, *args, **{**kwargs, "flags": socket.AI_NUMERICHOST})
        except socket.gaierror as exc:
            raise socket.gaierror(socket.EAI_NONAME, f"fake DNS: no {name}") from exc

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("connections are refused in this test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    yield attempts


def test_at_least_fifty_urls() -> None:
    assert len(REFUSED_URLS) >= 50
    assert len(set(REFUSED_URLS)) == len(REFUSED_URLS)


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_at_subscription_and_at_delivery_without_connecting(
    url: str, no_network: list[Any]
) -> None:
    guard = Guard()
    with pytest.raises(DestinationRefused) as refused:
        guard.check(url)
    assert refused.value.reason
    result = send(guard, url, "{}", {}, Timeouts(0.5, 0.5), 1024)
    assert not result.ok
    assert result.status_code is None
    assert result.error and result.error.startswith("refused: ")
    assert no_network == []


def test_allowlist_matches_the_address_as_connected(no_network: list[Any]) -> None:
    guard = Guard(allow_nets=(ipaddress.ip_network("127.0.0.1/32"),), allow_http=True)
    assert guard.check("http://0x7f.1/") == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(DestinationRefused, match="IPv4-mapped"):
        guard.check("http://[::ffff:127.0.0.1]/")
    with pytest.raises(DestinationRefused, match="loopback"):
        guard.check("http://[::1]/")


def test_public_destinations_pass(no_network: list[Any]) -> None:
    guard = Guard()
    assert guard.check("https://public.test/hook") == [ipaddress.ip_address("93.184.216.34")]
    assert guard.check("https://public6.test:8443/") == [
        ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")
    ]
    assert guard.check("https://1.1.1.1/") == [ipaddress.ip_address("1.1.1.1")]
    assert no_network == []


def test_reasons_name_what_was_hit(no_network: list[Any]) -> None:
    guard = Guard()
    cases = {
        "https://169.254.169.254/": "cloud metadata",
        "https://0x7f.1/": "loopback",
        "https://100.64.0.1/": "CGNAT",
        "https://[::ffff:10.0.0.1]/": "IPv4-mapped IPv6 of 10.0.0.1 (private",
        "https://mixed.test/": "'mixed.test' resolves to 192.168.1.10",
        "http://1.1.1.1/": "https",
    }
    for url, words in cases.items():
        with pytest.raises(DestinationRefused) as refused:
            guard.check(url)
        assert words in refused.value.reason, (url, refused.value.reason)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.258", "10.1.1.2"),
        ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"),
        ("1.2.3.4.", "1.2.3.4"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("08.1.1.1", None),
    ],
)
def test_whatwg_ipv4_parsing(host: str, expected: str | None) -> None:
    found = parse_ipv4_number(host)
    assert (str(found) if found else None) == expected
