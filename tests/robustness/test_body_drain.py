"""Every refusal leaves a keep-alive connection usable: the router's 404 and 405, a rate-limited
request and a coded error each drain the body they did not read (bounded), so the next request on
the same socket is answered; a body past the drain bound is not read and the connection is closed.
Checked on a raw socket (h11), on both tiers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import h11
import pytest

from podium.devtools.testing import LiveServer
from podium.http import REFUSED_BODY_DRAIN_BYTES_MAX
from podium.redis_server import RedisServer
from tests.robustness.conftest import serve_tier

BODY = b'{"entries": [' + b'{"x": 1},' * 500_000 + b'{"x": 1}]}'   # ~4.5 MB: still arriving when a refusal is ready


@pytest.fixture(scope="module", params=["region", "global"])
def server(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[LiveServer]:
    api = {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0}
    with serve_tier(request.param, redis_server, api) as live:
        if request.param == "region":
            REGION_URLS.add(live.url)
        yield live


REGION_URLS: set[str] = set()


class Connection:
    """One client socket that sends requests one after another and reads each answer fully."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.h11 = h11.Connection(h11.CLIENT)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: list[tuple[str, str]] | None = None) -> tuple[h11.Response, bytes]:
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        head = [("host", "127.0.0.1"), ("content-length", str(len(body))), *(headers or [])]
        self.sock.sendall(self.h11.send(h11.Request(method=method, target=path, headers=head)))
        self.sock.sendall(self.h11.send(h11.Data(data=body)) + self.h11.send(h11.EndOfMessage()))
        response, content = None, b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                content += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, content

    def close(self) -> None:
        self.sock.close()


def header(response: h11.Response, name: bytes) -> bytes | None:
    return next((v for k, v in response.headers if k == name), None)


REFUSALS = {   # each answered without the route reading the body
    "router 404": ("POST", "/no/such/route", 404),
    "router 405": ("PUT", "/healthz", 405),
    "coded refusal": ("POST", "/v1/admin/boards", 401),   # no credentials: refused before the body is read
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_refusal_drains_the_body_and_keeps_the_connection(server: LiveServer, refusal: str) -> None:
    method, path, status = REFUSALS[refusal]
    if path == "/v1/admin/boards" and server.url not in REGION_URLS:
        path = "/v1/replicate"
    conn = Connection(server.url)
    try:
        for _ in range(3):   # the same socket, three times over: each body was drained
            response, content = conn.request(method, path, BODY, [("content-type", "application/json")])
            assert response.status_code == status, content[:300]
            assert b'"code"' in content   # coded JSON, like every other error
            healthz, _ = conn.request("GET", "/healthz")
            assert healthz.status_code == 200
    finally:
        conn.close()


def test_the_router_405_names_the_allowed_methods(server: LiveServer) -> None:
    conn = Connection(server.url)
    try:
        response, content = conn.request("DELETE", "/healthz", b"{}")
        assert response.status_code == 405
        assert header(response, b"allow") is not None
        assert b"BAD_USER_INPUT" in content
    finally:
        conn.close()


def test_a_body_past_the_drain_bound_closes_the_connection(server: LiveServer) -> None:
    conn = Connection(server.url)
    try:
        too_big = str(REFUSED_BODY_DRAIN_BYTES_MAX + 1)
        head = [("host", "127.0.0.1"), ("content-length", too_big)]
        conn.sock.sendall(conn.h11.send(h11.Request(method="POST", target="/no/such/route", headers=head)))
        conn.sock.sendall(conn.h11.send(h11.Data(data=b"x" * 1000)))
        while not isinstance(event := conn.h11.next_event(), h11.Response):
            assert event is h11.NEED_DATA
            conn.h11.receive_data(conn.sock.recv(65536))
        assert event.status_code == 404
        assert header(event, b"connection") == b"close"
    finally:
        conn.close()
