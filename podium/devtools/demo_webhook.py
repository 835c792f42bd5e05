"""A webhook receiver for `podium up --demo`: a local HTTP endpoint that verifies each delivery's
signature with `podium.signing.verify` (the same check a game back-end would run) and prints what it
received, registered on the demo board with an `entered_top_n` and a `quarantined` rule, so the
console's webhook panel and the README show real deliveries."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
from rich.console import Console

from podium.errors import Unauthenticated
from podium.signing import verify

DEMO_ENDPOINT = "demo-receiver"
DEMO_RULES = ({"id": "demo-top3", "kind": "entered_top_n", "n": 3}, {"id": "demo-held", "kind": "quarantined"})
SIGNATURE_WINDOW_MS = 300_000
PRINT_FIRST = 5          # deliveries printed in full; afterwards one line per PRINT_EVERY
PRINT_EVERY = 50


class DemoReceiver:
    """Runs in its own thread (the standard library's HTTP server), on a free port of 127.0.0.1."""

    def __init__(self, secret: str, console: Console) -> None:
        self.secret = secret
        self.received = 0        # deliveries verified and printed (counted after the print: a reader sees both)
        self.rejected = 0
        self.lock = threading.Lock()   # the server handles each delivery on its own thread
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(min(int(self.headers.get("content-length", "0")), 1_048_576))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verify(headers, "POST", self.path, body, {DEMO_ENDPOINT: receiver.secret},
                           time.time_ns() // 1_000_000, SIGNATURE_WINDOW_MS)
                except Unauthenticated as exc:
                    with receiver.lock:
                        console.print(f"[red]demo webhook: rejected a delivery: {exc}[/]")
                        receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver.lock:       # deliveries arrive on parallel threads: count once printed
                    n = receiver.received + 1
                    if n <= PRINT_FIRST or n % PRINT_EVERY == 0:
                        note = orjson.loads(body)
                        console.print(f"[dim]demo webhook #{n}: {note['kind']} for {note['player']} on "
                                      f"{note['board']} (rank {note.get('rank')}), signature verified, "
                                      f"event id {headers.get('x-podium-event-id')}[/]")
                    receiver.received = n
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo webhook", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def register(http: httpx.AsyncClient, admin_key: str, board: str, url: str, secret: str) -> None:
    admin = {"Authorization": f"Bearer {admin_key}"}
    for rule in DEMO_RULES:
        (await http.post("/v1/admin/notification-rules", headers=admin, json={**rule, "board": board})).raise_for_status()
    (await http.post("/v1/admin/webhooks", headers=admin, json={
        "id": DEMO_ENDPOINT, "url": url, "secret": secret, "boards": [board]})).raise_for_status()


async def run_webhook_demo(base_url: str, admin_key: str, board: str, stop: asyncio.Event, console: Console) -> None:
    secret = secrets.token_hex(16)
    receiver = DemoReceiver(secret, console)
    receiver.thread.start()
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            await asyncio.sleep(1.0)  # let the server bind first
            try:
                await register(http, admin_key, board, receiver.url, secret)
            except (httpx.HTTPError, ValueError) as exc:
                console.print(f"[yellow]demo webhook: {exc}[/]")
                return
        console.print(f"[dim]demo webhook receiver on {receiver.url}: {DEMO_ENDPOINT!r} gets {board}'s "
                      f"entered_top_n (top 3) and quarantined events, each signature verified[/]")
        await stop.wait()
    finally:
        await asyncio.to_thread(receiver.close)
