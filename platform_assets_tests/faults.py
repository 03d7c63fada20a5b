"""A fault-injecting HTTP proxy on loopback, in front of the moto S3 server.

It forwards requests verbatim (moto does not check signatures) and, for the requests
its policy picks, answers as a struggling S3 would instead: 503 SlowDown, 500
InternalError, or a connection reset mid-request. Nothing in the client is patched:
the AWS SDK inside pyarrow and boto3 sees real HTTP failures."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

SLOW_DOWN = "slowdown"
INTERNAL_ERROR = "internal"
RESET = "reset"
_ERRORS = {
    SLOW_DOWN: (503, "SlowDown", "Please reduce your request rate."),
    INTERNAL_ERROR: (500, "InternalError", "We encountered an internal error. Please try again."),
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass
class FaultPolicy:
    """Which requests fail, and how: the first `first_n`, then each with `probability`."""

    first_n: int = 0
    probability: float = 0.0
    modes: tuple[str, ...] = (SLOW_DOWN, RESET, INTERNAL_ERROR)
    seed: int = 13
    requests: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - fault schedule, not security

    def next_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            failing = self.requests <= self.first_n or self._random.random() < self.probability
            if not failing:
                return None
            mode = self.modes[sum(self.injected.values()) % len(self.modes)]
            self.injected[mode] = self.injected.get(mode, 0) + 1
            return mode

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length", 0) or 0))


def _handler(upstream: str, policy: FaultPolicy) -> type[BaseHTTPRequestHandler]:
    target = urlparse(upstream)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            body = _read_body(self)
            fault = policy.next_fault()
            if fault == RESET:
                # RST instead of FIN: the client sees "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None:
                status, code, message = _ERRORS[fault]
                payload = (
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f"<Message>{message}</Message><RequestId>fault-injected</RequestId></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815 - http.server protocol

        def log_message(self, *args: object) -> None:
            pass

    return Proxy


@contextmanager
def faulty_endpoint(upstream: str, policy: FaultPolicy) -> Iterator[str]:
    """An endpoint URL that reaches `upstream` through the fault policy."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, policy))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
