"""A tiny threading HTTP server on 127.0.0.1 that plays a provider's API in tests.

``FakeApi(handler)``: ``handler(request) -> (status, body, headers)`` where
``request`` has ``method``, ``path``, ``headers`` (case-insensitive) and ``body``;
every request is recorded in ``.requests``. No network leaves the machine.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from email.message import Message


@dataclass
class Request:
    method: str
    path: str
    headers: Message
    body: bytes

    def json(self):
        return json.loads(self.body)


def reply(status: int = 200, body=b"", headers: dict | None = None):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    return status, body.encode() if isinstance(body, str) else body, headers or {}


class FakeApi:
    def __init__(self, handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, self.headers, self.rfile.read(length))
                api.requests.append(request)
                status, body, headers = api.handler(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = _any  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
