"""The HTTP plumbing the provider fakes share: a server on 127.0.0.1 at a free port,
served from a daemon thread, stopped cleanly."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: 32 clients connecting at once
    # overflowed it, and each dropped connection waited for the kernel's SYN retry
    # (1 s). A real platform's edge takes them all.
    request_queue_size = 128


class LocalServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._handler = handler
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Start serving; returns the base address, e.g. http://127.0.0.1:43127."""
        self._server = _Server(("127.0.0.1", 0), self._handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one interval
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
