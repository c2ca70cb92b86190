"""A real HTTP receiver on 127.0.0.1 for the webhook tests (no tests of its own): threaded,
so one hanging request does not hold the others, with a scripted answer per path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


Answer = tuple[int, dict[str, str], bytes]
Responder = Callable[[Received, int], Answer]  # (request, index of it on its path)


def ok(_: Received, __: int) -> Answer:
    return 200, {}, b"ok"


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.responders: dict[str, Responder] = {}
        self.release = threading.Event()  # lets hanging handlers go at the end
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                got = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                    time.time(),
                )
                with receiver._cond:
                    receiver.received.append(got)
                    index = sum(1 for r in receiver.received if r.path == got.path) - 1
                    receiver._cond.notify_all()
                status, headers, body = receiver.responders.get(self.path, ok)(got, index)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.path == path]

    def wait(self, predicate: Callable[[list[Received]], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(list(self.received)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver: condition not met in {timeout_s}s")
                self._cond.wait(left)

    def hang(self, until: threading.Event, max_s: float = 30.0) -> Responder:
        def responder(_: Received, __: int) -> Answer:
            until.wait(max_s)
            return 200, {}, b"late"

        return responder

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
