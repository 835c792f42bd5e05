"""A real HTTP webhook receiver on 127.0.0.1 (http.server in a thread) that verifies signatures
with podium.signing.verify, fails the first `fail_first` attempts of each event, or always fails."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import orjson

from podium.clock import SystemClock
from podium.errors import Unauthenticated
from podium.signing import verify


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024      # many endpoints' first connections arrive at once
    daemon_threads = True


class Receiver:
    def __init__(self, secrets: dict[str, str], fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.secrets = secrets
        self.hang_s = hang_s
        self.fail_first = fail_first
        self.dead = False
        self.attempts: Counter[str] = Counter()
        self.received: Counter[str] = Counter()       # signed requests read, counted before any hang
        self.accepted: Counter[str] = Counter()       # successful deliveries by event id
        self.bad_signatures = 0
        self.bodies_by_event: dict[str, bytes] = {}   # the first accepted body of each event
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verify(headers, "POST", self.path, body, receiver.secrets, SystemClock().now_ms(), 300_000)
                except Unauthenticated:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = headers["x-podium-event-id"]
                with receiver.lock:
                    receiver.received[event] += 1
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)          # a slow receiver (its own server thread)
                with receiver.lock:
                    receiver.attempts[event] += 1
                    ok = not receiver.dead and receiver.attempts[event] > receiver.fail_first
                    if ok:
                        receiver.accepted[event] += 1
                        receiver.bodies_by_event.setdefault(event, body)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[dict[str, Any]]:
        """The notifications accepted, one per event id."""
        with self.lock:
            return [orjson.loads(b) for b in self.bodies_by_event.values()]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
