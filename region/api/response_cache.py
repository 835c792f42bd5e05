"""Whole-response cache for public GraphQL reads.

A top-100 over GraphQL costs ~9 ms of CPU in validation and execution even when the rows come from
the read cache; a burst of identical requests (every client polling the same board) should cost one
execution per TTL. Only responses the schema itself marked `Cache-Control: public` (public boards,
no `me`, no errors) are kept, keyed by method, query string, body, credential and Accept (it picks
the content type), for at most the response's max-age and `api.response_cache_ttl_ms` (about one
subscription tick, so a cached top is never older than what a subscriber sees). Bounded in entries
and body size; the clock is injected.

The store (`ResponseCache`) is shared by the middleware below (the general chain) and the one-pass
GraphQL entry (`podium.region.api.graphql_entry`), so both reuse the same answers."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from podium.clock import Clock, SystemClock

Headers = list[tuple[bytes, bytes]]
Entry = tuple[float, int, Headers, bytes]   # expires, status, headers, body
RAW_KEY_BYTES_MAX = 2048   # a longer request is keyed by its digest (at the default 1,024 entries, 2 MiB of keys)


class ResponseCache:
    """The bounded LRU of cacheable answers; `api` is the settings section read per call."""

    def __init__(self) -> None:
        self.entries: OrderedDict[bytes, Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def enabled(api: Any) -> bool:
        return api is not None and api.response_cache_ttl_ms > 0 and api.response_cache_entries_max > 0

    @staticmethod
    def key(method: str, query_string: bytes, body: bytes, headers: dict[bytes, bytes]) -> bytes:
        """The request's parts themselves when short (a typical read: the dict hashes them, some 2 µs),
        else their SHA-256 (about 12 µs, half of a cache hit's time in the app): a key never holds
        more than RAW_KEY_BYTES_MAX, so the cache's memory stays bounded by its entry count. Header
        values and the query string hold no NUL (h11 refuses them), so the joined parts are unique."""
        joined = b"\0".join((method.encode(), query_string, body, headers.get(b"authorization", b""),
                             headers.get(b"accept", b"")))
        if len(joined) <= RAW_KEY_BYTES_MAX:
            return b"r" + joined
        return b"h" + hashlib.sha256(joined).digest()

    def lookup(self, key: bytes, now: float) -> Entry | None:
        """A live entry (counted as a hit), or None (counted as a miss)."""
        hit = self.entries.get(key)
        if hit is not None and hit[0] > now:
            self.hits += 1
            self.entries.move_to_end(key)
            return hit
        self.misses += 1
        return None

    def store(self, key: bytes, status: int, headers: Headers, body: bytes, now: float, api: Any) -> None:
        if status != 200 or len(body) > api.response_cache_body_bytes_max or b'"errors"' in body:
            return
        control = next((v for k, v in headers if k.lower() == b"cache-control"), b"")
        if not control.startswith(b"public, max-age="):
            return
        max_age_s = int(control.removeprefix(b"public, max-age=").split(b",")[0] or 0)
        ttl_s = min(max_age_s, api.response_cache_ttl_ms / 1000)
        if ttl_s <= 0:
            return
        self.entries[key] = (now + ttl_s, 200, list(headers), body)
        self.entries.move_to_end(key)
        while len(self.entries) > api.response_cache_entries_max:
            self.entries.popitem(last=False)


def service_of_scope(scope: dict[str, Any]) -> Any:
    """The region service (built in the lifespan, after the middleware stack), or None."""
    return getattr(scope["app"].state, "service", None) if scope.get("app") else None


class ResponseCacheMiddleware:
    def __init__(self, app: Any, path: str = "/graphql", store: ResponseCache | None = None) -> None:
        self.app = app
        self.path = path
        self.store = store or ResponseCache()

    @property
    def hits(self) -> int:
        return self.store.hits

    @property
    def entries(self) -> OrderedDict[bytes, Entry]:
        return self.store.entries

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        service = service_of_scope(scope)
        api = service.settings.api if service is not None else None
        if api is None or not ResponseCache.enabled(api):
            await self.app(scope, receive, send)
            return
        clock: Clock = getattr(service, "clock", None) or SystemClock()
        body, more = await read_body_bounded(receive, api.response_cache_body_bytes_max)
        if more:   # larger than any request we would cache: pass it through untouched
            await self.app(scope, replay(body, receive, more=True), send)
            return
        headers = dict(scope.get("headers") or [])
        if b"no-cache" in headers.get(b"cache-control", b"").lower():
            # the caller needs what is acknowledged now (the global tier's STRONG reads)
            await self.app(scope, replay(body, receive), send)
            return
        key = ResponseCache.key(scope["method"], scope.get("query_string", b""), body, headers)
        now = clock.monotonic()
        hit = self.store.lookup(key, now)
        if hit is not None:
            await send({"type": "http.response.start", "status": hit[1], "headers": hit[2]})
            await send({"type": "http.response.body", "body": hit[3]})
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.store.store(key, start.get("status", 0), list(start.get("headers", [])),
                                     b"".join(chunks), now, api)
            await send(message)

        await self.app(scope, replay(body, receive), capture)


async def read_body_bounded(receive: Any, limit: int) -> tuple[bytes, bool]:
    """The request body up to `limit` bytes; True when more is left unread."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False
        if size > limit:
            return b"".join(chunks), True


def replay(body: bytes, receive: Any, *, more: bool = False) -> Any:
    """A receive that hands the app the body we already read, then the rest of the stream."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()  # type: ignore[no-any-return]

    return replayed
