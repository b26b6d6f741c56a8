"""What the platform fakes share: a real HTTP server on 127.0.0.1, a record of every
request, and fault injection.

A platform fake subclasses `FakePlatform` and implements `route(request)`, returning
`Reply(status, body, headers)` where `body` is any JSON-able value (sent as JSON) or
bytes (sent as is). Faults are applied before the route runs:

    fake.latency = 0.2                       # every answer waits 200 ms
    fake.fail_next("500", "429")             # the next two requests, in order
    fake.fail_always("timeout")              # every request, until clear_faults()
    fake.down = True                         # the whole platform answers 503

Fault kinds: "500", "502", "503", "429" (with Retry-After: `retry_after`),
"timeout" (answers only after `timeout_seconds`, longer than the client's read
timeout in tests), "malformed" (a 200 whose body is not JSON), "html" (a 200
Cloudflare-like HTML page), "reset" (closes the connection without answering).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from payments.tests.fakes.local_server import LocalServer

FAULT_KINDS = {"500", "502", "503", "429", "timeout", "malformed", "html", "reset"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int = 0  # what the fake answered (0: connection reset)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakePlatform:
    name = "fake"

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.latency = 0.0
        self.timeout_seconds = 1.5
        self.retry_after = 1
        self.down = False
        self._next_faults: list[str] = []
        self._always_fault: str | None = None
        self._lock = threading.Lock()
        # Requests being answered at once, and the most seen: what parallel fetching
        # shows without timing anything.
        self.in_flight = 0
        self.max_in_flight = 0
        self._local: LocalServer | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakePlatform:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # The answer's headers and body go out in two writes: without this
                # the body waits for the client's delayed ACK (~40 ms a call).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_PUT(self) -> None:
                fake._handle(self)

            def log_message(self, format, *args) -> None:
                pass

        self._local = LocalServer(Handler, f"fake-{self.name}")
        self.url = self._local.start()
        return self

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
            self._local = None

    # -- faults ------------------------------------------------------------------

    def fail_next(self, *kinds: str) -> None:
        self._check(kinds)
        with self._lock:
            self._next_faults.extend(kinds)

    def fail_always(self, kind: str) -> None:
        self._check([kind])
        self._always_fault = kind

    def clear_faults(self) -> None:
        with self._lock:
            self._next_faults.clear()
        self._always_fault = None
        self.down = False
        self.latency = 0.0

    @staticmethod
    def _check(kinds) -> None:
        unknown = set(kinds) - FAULT_KINDS
        if unknown:
            raise ValueError(f"Unknown fault kinds {unknown}; use {FAULT_KINDS}")

    def calls(self, path_contains: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path_contains in r.path]

    # -- to implement ------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    # -- plumbing ----------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            method=handler.command,
            path=split.path,
            query={k: v[0] for k, v in parse_qs(split.query).items()},
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(request)
            fault = self._next_faults.pop(0) if self._next_faults else None
        fault = fault or self._always_fault
        if self.latency:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            time.sleep(self.latency)
            with self._lock:
                self.in_flight -= 1
        if self.down:
            fault = "503"
        if fault == "reset":
            handler.close_connection = True
            handler.connection.close()
            return
        if fault == "timeout":
            time.sleep(self.timeout_seconds)
            reply = Reply(200, {"late": True})
        elif fault in ("500", "502", "503"):
            reply = Reply(int(fault), {"error": "server_error"})
        elif fault == "429":
            reply = Reply(
                429, {"error": "rate_limited"}, {"Retry-After": str(self.retry_after)}
            )
        elif fault == "malformed":
            reply = Reply(200, b'{"truncated": [1, 2')
        elif fault == "html":
            reply = Reply(
                200,
                b"<!DOCTYPE html><html><title>Just a moment...</title></html>",
                {"Content-Type": "text/html"},
            )
        else:
            try:
                reply = self.route(request)
            except Exception as error:  # a bug in the fake must show, not hang
                reply = Reply(599, {"fake_error": repr(error)})
        request.status = reply.status
        self._send(handler, reply)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            payload = reply.body
            content_type = reply.headers.get("Content-Type", "application/json")
        else:
            payload = json.dumps(reply.body).encode()
            content_type = "application/json"
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                if name != "Content-Type":
                    handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its read timeout): nothing to answer
