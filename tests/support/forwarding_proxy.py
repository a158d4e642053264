"""A tiny reverse proxy for tests of several hosts behind a load balancer.

Each request names its upstream (header X-Test-Upstream: an index into `upstreams`;
round robin without it) and the real client the proxy should report (X-Test-Client:
an address; the proxy's own peer address without it). Like a real proxy, it appends
that address to whatever X-Forwarded-For the client sent, so a forged left-hand hop
travels on and the app must ignore it. Redirects are passed back, never followed.
Loopback only; standard library only (http.server and http.client suffice here).
"""

from __future__ import annotations

import http.client
import itertools
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "x-test-upstream",
    "x-test-client",
}


@dataclass
class ForwardingProxy:
    upstreams: list[tuple[str, int]]
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    turn: Any = field(default_factory=lambda: itertools.count())
    served: list[int] = field(default_factory=list)  # the upstream index of each request

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> ForwardingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads the apps' logs, not the proxy's

            def _forward(self) -> None:
                chosen = self.headers.get("X-Test-Upstream")
                index = int(chosen) if chosen else next(proxy.turn) % len(proxy.upstreams)
                proxy.served.append(index)
                real = self.headers.get("X-Test-Client") or self.client_address[0]
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                forwarded = self.headers.get("X-Forwarded-For")
                headers["X-Forwarded-For"] = f"{forwarded}, {real}" if forwarded else real
                headers["X-Forwarded-Proto"] = "http"
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                host, port = proxy.upstreams[index]
                upstream = http.client.HTTPConnection(host, port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Test-Upstream", str(index))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
