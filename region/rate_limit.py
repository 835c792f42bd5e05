"""Rate limits per client id and per IP: Redis token buckets (shared by every process of a region),
checked by an ASGI middleware in front of the API. The clock is injected."""

from __future__ import annotations

import hashlib
import logging
from importlib import resources
from typing import Any

import orjson

from podium.clock import Clock
from podium.errors import RateLimited, Unavailable
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

# Paths with their own protection: health and metrics for probes; score batches are signed and
# bounded per batch (their key ids are limited by the batch size limit and dedup instead).
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/scores"})
log = logging.getLogger("podium.rate_limit")


@translate_store_errors("the rate limiter (Redis)")
class TokenBuckets:
    def __init__(self, redis: AnyRedis, rate_per_s: float, burst: int, clock: Clock) -> None:
        self.redis = redis
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._script = redis.register_script(
            resources.files("podium").joinpath("lua/token_bucket.lua").read_text())

    async def take(self, key: str, cost: int = 1) -> None:
        allowed, retry_ms = await self._script(keys=[f"prl:{{{key}}}"],
                                               args=[self.rate_per_s, self.burst, self.clock.now_ms(), cost])
        if not int(allowed):
            raise RateLimited(f"rate limit exceeded for {key.split(':')[0]}; retry later",
                              retry_after_s=round(int(retry_ms) / 1000, 3))


def client_keys(headers: dict[bytes, bytes], client_ip: str) -> list[str]:
    """One bucket per IP, and one per credential when there is one (hashed, never stored raw)."""
    keys = [f"ip:{client_ip}"]
    auth = headers.get(b"authorization")
    if auth:
        keys.append("client:" + hashlib.sha256(auth).hexdigest()[:24])
    return keys


class RateLimitMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope.get("app").state if scope.get("app") else None  # type: ignore[union-attr]
        buckets: TokenBuckets | None = getattr(getattr(state, "service", None), "rate_limits", None)
        if buckets is not None:
            headers = dict(scope.get("headers") or [])
            client = scope.get("client") or ("unknown", 0)
            try:
                for key in client_keys(headers, client[0]):
                    await buckets.take(key)
            except Unavailable as exc:
                # Fail open: a limiter that cannot reach Redis must not turn every request (or
                # websocket handshake) into an error; what needs Redis reports its own error.
                log.warning("rate limit not checked (%s): %s", type(exc).__name__, exc)
            except RateLimited as exc:
                scope["app"].state.service.telemetry.rate_limited.add(1, {"path": scope["path"]})
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4429})
                    return
                await _send_limited(send, exc, graphql=scope["path"] == "/graphql")
                return
        await self.app(scope, receive, send)


async def _send_limited(send: Any, exc: RateLimited, graphql: bool) -> None:
    ext = {"code": exc.code, **exc.extensions}
    body = {"errors": [{"message": exc.message, "extensions": ext}]} if graphql else exc.to_dict()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"),
                            (b"retry-after", str(max(1, round(exc.retry_after_s))).encode())]})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})
