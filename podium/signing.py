"""HMAC-SHA256 request signing for game servers.

The signature covers method, path, timestamp and body:
    hex(HMAC-SHA256(secret, METHOD "\\n" PATH "\\n" TIMESTAMP_MS "\\n" BODY))
sent as X-Podium-Key (key id), X-Podium-Timestamp (Unix ms) and X-Podium-Signature.
Requests outside the time window are stale; a signature seen before is a replay (checked by
`ReplayGuard` in Redis, since any process of the region may receive the replay).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from podium.errors import Unauthenticated
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

KEY_HEADER = "x-podium-key"
TIMESTAMP_HEADER = "x-podium-timestamp"
SIGNATURE_HEADER = "x-podium-signature"


def signature(secret: str, method: str, path: str, timestamp_ms: int, body: bytes) -> str:
    message = f"{method.upper()}\n{path}\n{timestamp_ms}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(key_id: str, secret: str, method: str, path: str, timestamp_ms: int, body: bytes) -> dict[str, str]:
    return {
        "X-Podium-Key": key_id,
        "X-Podium-Timestamp": str(timestamp_ms),
        "X-Podium-Signature": signature(secret, method, path, timestamp_ms, body),
    }


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    key_id: str
    signature: str


def verify(
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    keys: Mapping[str, str],
    now_ms: int,
    window_ms: int,
) -> VerifiedRequest:
    """Check key, freshness and signature (pure). Raises Unauthenticated with a clear message."""
    key_id = headers.get(KEY_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    sent = headers.get(SIGNATURE_HEADER)
    if not key_id or not stamp or not sent:
        raise Unauthenticated("missing X-Podium-Key, X-Podium-Timestamp or X-Podium-Signature header")
    secret = keys.get(key_id)
    if secret is None:
        raise Unauthenticated(f"unknown game-server key id {key_id[:64]!r}")
    if not stamp.isdigit() or len(stamp) > 16:
        raise Unauthenticated("X-Podium-Timestamp must be Unix time in milliseconds")
    if abs(now_ms - int(stamp)) > window_ms:
        raise Unauthenticated(f"request timestamp is outside the allowed window of {window_ms // 1000}s (stale or clock skew)")
    expected = signature(secret, method, path, int(stamp), body)
    if not hmac.compare_digest(expected, sent.lower()):
        raise Unauthenticated("signature does not match the request (method, path, timestamp, body)")
    return VerifiedRequest(key_id, expected)


@translate_store_errors("the replay guard (Redis)")
class ReplayGuard:
    """Remembers signatures for twice the window: a second use of one is a replay."""

    def __init__(self, redis: AnyRedis, window_ms: int) -> None:
        self.redis = redis
        self.window_ms = window_ms

    async def check(self, request: VerifiedRequest) -> None:
        fresh = await self.redis.set(f"psig:{request.signature}", request.key_id, nx=True, px=2 * self.window_ms)
        if not fresh:
            raise Unauthenticated("signature was already used: replayed request")
