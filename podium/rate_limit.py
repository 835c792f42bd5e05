"""Rate limits per credential and per IP: token buckets shared by every process of a tier in Redis,
checked by an ASGI middleware in front of the API of every tier (and by the region's one-pass
`/graphql` entry). The clock is injected.

A request with a credential (`Authorization`) draws from that credential's bucket, so clients
behind one NAT do not share a budget; its IP bucket is still charged, at `rate_limit_ip_factor`
times the rate and burst, so minting credentials does not lift the limit. A request without one
draws from its IP's bucket. Every request and websocket handshake draws from in-process buckets
charged to the shared ones in the background (podium.rate_limit_local: no Redis round trip on the
request path; across processes a client may overshoot by about one `rate_limit_sync_ms` per
process, then pays it back). A refusal is HTTP 429 coded RATE_LIMITED with Retry-After; a refused
websocket handshake is the same 429 (the ASGI websocket denial response). At most
`ws_handshakes_pending_max` handshakes are in progress per process: one more is refused at once
(429, code RATE_LIMITED), so a connect storm queues nowhere."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import orjson

from podium.clock import Clock
from podium.config import ApiLimits
from podium.errors import RateLimited
from podium.rate_limit_local import LocalBuckets
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

# Paths with their own protection: health and metrics for probes; score batches are signed and
# bounded per batch (their key ids are limited by the batch size limit and dedup instead).
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/scores", "/openapi.json"})


@translate_store_errors("the rate limiter (Redis)")
class TokenBuckets:
    def __init__(self, redis: AnyRedis, rate_per_s: float, burst: int, clock: Clock, ip_factor: float = 10.0) -> None:
        self.redis = redis
        self.ip_factor = ip_factor
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._script = redis.register_script(_lua("token_bucket.lua"))
        self._charge = redis.register_script(_lua("token_bucket_charge.lua"))
        self.local = LocalBuckets(self, clock, sync_ms=100, keys_max=100_000)   # what requests draw from

    @classmethod
    def from_limits(cls, redis: AnyRedis, limits: ApiLimits, clock: Clock) -> TokenBuckets | None:
        """None when limiting is off (`rate_limit_per_s` = 0)."""
        if limits.rate_limit_per_s <= 0:
            return None
        buckets = cls(redis, limits.rate_limit_per_s, limits.rate_limit_burst, clock, limits.rate_limit_ip_factor)
        buckets.local = LocalBuckets(buckets, clock, limits.rate_limit_sync_ms, limits.rate_limit_local_keys_max,
                                     limits.rate_limit_sync_batch_max)
        return buckets

    async def take(self, key: str, cost: int = 1, scale: float = 1.0) -> None:
        allowed, retry_ms = await self._script(
            keys=[f"prl:{{{key}}}"],
            args=[self.rate_per_s * scale, max(1, round(self.burst * scale)), self.clock.now_ms(), cost])
        if not int(allowed):
            raise RateLimited(f"rate limit exceeded for {key.split(':')[0]}; retry later",
                              retry_after_s=round(int(retry_ms) / 1000, 3))

    async def charge_many(self, charges: Sequence[tuple[str, int, float]]) -> list[float]:
        """Charges (key, tokens, scale) already let through by a process, in one pipeline, even
        into debt; answers each bucket's level."""
        now = self.clock.now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, cost, scale in charges:
                # queued: the pipeline sends it (redis-py accepts a pipeline here; its stubs say Redis)
                await self._charge(keys=[f"prl:{{{key}}}"], client=pipe,  # type: ignore[arg-type]
                                   args=[self.rate_per_s * scale, max(1, round(self.burst * scale)), now, cost])
            return [float(level) for level in await pipe.execute()]


def _lua(name: str) -> str:
    return resources.files("podium").joinpath(f"lua/{name}").read_text()


def client_keys(headers: dict[bytes, bytes], client_ip: str, ip_factor: float) -> list[tuple[str, float]]:
    """The buckets a request draws from, each with its scale: the credential's (hashed, never stored
    raw) and its IP's credentialed bucket at `ip_factor`, or its IP's own bucket. The two IP buckets
    are separate keys: one key always has one rate and burst, so a bucket's level never depends on
    which kind of request came last (nor, with in-process buckets, on when they were charged)."""
    auth = headers.get(b"authorization")
    if auth:
        return [("client:" + hashlib.sha256(auth).hexdigest()[:24], 1.0), (f"ip:{client_ip}:credentialed", ip_factor)]
    return [(f"ip:{client_ip}", 1.0)]


class RateLimitMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.handshakes = 0     # websocket handshakes in progress (arrived, neither accepted nor refused)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope.get("app").state if scope.get("app") else None  # type: ignore[union-attr]
        service = getattr(state, "service", None)
        if scope["type"] == "websocket":
            api = getattr(getattr(service, "settings", None), "api", None)
            pending_max = getattr(api, "ws_handshakes_pending_max", 0)
            if pending_max and self.handshakes >= pending_max:
                await _refuse(service, scope, send, RateLimited(
                    "too many websocket handshakes in progress on this process; retry", retry_after_s=1.0))
                return
        buckets: TokenBuckets | None = getattr(service, "rate_limits", None)
        if buckets is not None:
            headers = dict(scope.get("headers") or [])
            client = scope.get("client") or ("unknown", 0)
            refused = await charge(buckets, headers, client[0])
            if refused is not None:
                await _refuse(service, scope, send, refused)
                return
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.handshakes += 1
        pending = True

        async def send_noting_accept(message: dict[str, Any]) -> None:
            nonlocal pending
            if pending:
                pending = False
                self.handshakes -= 1
            await send(message)

        try:
            await self.app(scope, receive, send_noting_accept)
        finally:
            if pending:
                self.handshakes -= 1


async def charge(buckets: TokenBuckets, headers: dict[bytes, bytes], client_ip: str) -> RateLimited | None:
    """Draws one request (or websocket handshake) from its buckets: the refusal, or None when
    allowed. In-process buckets only (no I/O); Redis is charged in the background."""
    try:
        for key, scale in client_keys(headers, client_ip, buckets.ip_factor):
            buckets.local.take(key, scale=scale)
    except RateLimited as exc:
        return exc
    return None


def note_refusal(service: Any, path: str) -> None:
    telemetry = getattr(service, "telemetry", None)
    if telemetry is not None:
        telemetry.rate_limited.add(1, {"path": path})


async def _refuse(service: Any, scope: dict[str, Any], send: Any, exc: RateLimited) -> None:
    note_refusal(service, scope["path"])
    if scope["type"] == "websocket":
        await _deny_websocket(scope, send, exc)
        return
    await _send_limited(send, exc, graphql=scope["path"] == "/graphql")


def limited_response(exc: RateLimited, graphql: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    ext = {"code": exc.code, **exc.extensions}
    body = {"errors": [{"message": exc.message, "extensions": ext}]} if graphql else exc.to_dict()
    headers = [(b"content-type", b"application/json"),
               (b"retry-after", str(max(1, round(exc.retry_after_s))).encode())]
    return headers, orjson.dumps(body)


async def _send_limited(send: Any, exc: RateLimited, graphql: bool) -> None:
    headers, body = limited_response(exc, graphql)
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _deny_websocket(scope: dict[str, Any], send: Any, exc: RateLimited) -> None:
    """HTTP 429 for the handshake when the server supports denial responses (Hypercorn does); a
    plain close (which the server turns into 403) otherwise."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 4429})
        return
    headers, body = limited_response(exc, graphql=True)
    await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
