"""A real HTTP server on 127.0.0.1 that records what it is sent and answers with a chosen status."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer


class Recorder(LoopbackServer):
    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append({"path": self.path, "json": json.loads(body or b"null")})
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args):
                pass

        super().__init__(Handler)
