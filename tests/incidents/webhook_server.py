"""A real HTTP server on 127.0.0.1 in a thread that records webhook POSTs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookServer:
    """``responses``: status codes to answer in order, then 200. ``hold``: when given, every
    request is recorded, ``arrived`` is set, and the answer waits until ``hold`` is set."""

    def __init__(self, responses: list[int] | None = None, hold: threading.Event | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses = list(responses or [])
        self.hold = hold
        self.arrived = threading.Event()
        self.answered = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server._lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "json": json.loads(body), "body_text": body.decode()}
                    )
                server.arrived.set()
                if server.hold is not None:
                    server.hold.wait(timeout=600)  # the test sets it; the bound only keeps a broken test from hanging
                with server._lock:
                    code = server.responses.pop(0) if server.responses else 200
                    server.answered += 1
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"error")

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> WebhookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
