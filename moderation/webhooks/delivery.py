"""One HTTP attempt of a webhook delivery, through a transport that can reach only what the
SSRF guard allows.

The guard runs inside the connection itself: the host is resolved once, every address is
checked, and the socket connects to one of those checked addresses, never to the name, so
nothing can change between the check and the connect. TLS still uses the URL's host for
SNI and certificate verification, and the Host header is the URL's. Redirects are not
followed (a 3xx is a failed attempt), proxies from the environment are ignored, and at
most `max_response_bytes` of the answer are read.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from moderation.webhooks.ssrf import DestinationRefused, Guard

USER_AGENT = "moderation-webhooks/1"


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard checked."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.guard.resolve(host.strip("[]"), port)
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("unix sockets are not webhook destinations")


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, guard: Guard, max_connections: int = 100) -> None:
        super().__init__(trust_env=False)
        ssl_context = httpx.create_ssl_context(trust_env=False)
        # No keep-alive: every attempt resolves and checks its destination afresh.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=0,
            network_backend=GuardedBackend(guard),
        )


@functools.lru_cache(maxsize=8)
def _client(guard: Guard, timeouts: Timeouts) -> httpx.Client:
    """One per process and configuration, shared by the worker's threads: building the TLS
    context (loading the CA bundle) costs more than a whole local delivery."""
    timeout = httpx.Timeout(
        connect=timeouts.connect_s,
        read=timeouts.read_s,
        write=timeouts.read_s,
        pool=timeouts.connect_s,
    )
    return httpx.Client(
        transport=GuardedTransport(guard),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


@dataclass(frozen=True)
class Timeouts:
    connect_s: float
    read_s: float


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str = ""


def send(
    guard: Guard,
    url: str,
    body: str,
    headers: dict[str, str],
    timeouts: Timeouts,
    max_response_bytes: int,
) -> AttemptResult:
    """POST once. Never raises for what the receiver does; a refused destination is a
    failed attempt whose error names the reason."""
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        guard.check(url)  # a clear reason up front; the transport checks again at connect
        client = _client(guard, timeouts)
        with client.stream("POST", url, content=body.encode("utf-8"), headers=headers) as resp:
            excerpt = _read_capped(resp, max_response_bytes, started, timeouts.read_s)
            code = resp.status_code
            if 200 <= code < 300:
                return AttemptResult(True, code, elapsed(), None, excerpt)
            error = f"HTTP {code}"
            if 300 <= code < 400:
                error += " (redirects are not followed)"
            return AttemptResult(False, code, elapsed(), error, excerpt)
    except DestinationRefused as exc:
        return AttemptResult(False, None, elapsed(), f"refused: {exc.reason}")
    except httpx.TimeoutException as exc:
        return AttemptResult(False, None, elapsed(), f"timeout: {type(exc).__name__}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return AttemptResult(False, None, elapsed(), f"{type(exc).__name__}: {exc}"[:300])


def _read_capped(resp: httpx.Response, cap: int, started: float, read_s: float) -> str:
    """At most `cap` bytes, within twice the read timeout overall, so a receiver that
    trickles bytes cannot hold a worker for long."""
    data = bytearray()
    for chunk in resp.iter_raw():
        data += chunk
        if len(data) >= cap:
            break
        if time.perf_counter() - started > 2 * read_s:
            raise httpx.ReadTimeout("response body too slow")
    return bytes(data[:cap]).decode("utf-8", "replace")[:500]
