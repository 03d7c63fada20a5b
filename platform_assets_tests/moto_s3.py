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


class S3Server(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = atomic_conditional_writes(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
