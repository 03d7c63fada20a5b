"""A real HTTP endpoint on loopback that records the alerts POSTed to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Webhook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0  # answer this many requests with HTTP 503 first
        self.url = ""


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    """A webhook server, with `PLATFORM_ALERT_WEBHOOK` pointing at it for the test."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hook.fail_next > 0:
                hook.fail_next -= 1
                self.send_response(503)
                self.end_headers()
                return
            assert self.headers["Content-Type"] == "application/json"
            hook.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/platform"
    monkeypatch.setenv("PLATFORM_ALERT_WEBHOOK", hook.url)
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
