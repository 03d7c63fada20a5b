"""moto's standalone S3 server, with S3's atomic conditional writes.

moto checks `If-Match` / `If-None-Match` and then stores the object as two steps, and
its server handles requests on threads: two conditional PUTs racing on one key can
both pass the check, which real S3 never allows (a conditional write is atomic there).
The race tests would then measure moto, not the platform, so conditional requests are
serialised here; everything else stays concurrent and real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

CONDITIONAL_HEADERS = ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH")


def atomic_conditional_writes(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "PUT" and any(environ.get(h) for h in CONDITIONAL_HEADERS):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return serve


class RequestLog:
    """Every request the server answered, as (method, path, query): what clients really
    asked, boto3 and pyarrow alike, counted where no client can leave one out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self.requests.append(
                    (
                        environ.get("REQUEST_METHOD", ""),
                        environ.get("PATH_INFO", ""),
                        environ.get("QUERY_STRING", ""),
                    )
                )
            return app(environ, start_response)

        return serve

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def count(self, contains: str = "") -> int:
        with self._lock:
            return sum(1 for _, path, query in self.requests if contains in path or contains in query)

    def by_method(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for method, _, _ in self.requests:
                counts[method] = counts.get(method, 0) + 1
            return counts


class S3Server(ThreadedMotoServer):
    request_log: RequestLog | None = None  # set before start() to count requests

    def _server_entry(self) -> None:
        app = atomic_conditional_writes(DomainDispatcherApplication(create_backend_app))
        if self.request_log is not None:
            app = self.request_log.wrap(app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
