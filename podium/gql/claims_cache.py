"""Verified JWTs kept for their next request: token → the caller it names, so a client sending the
same token again skips the header parse, the signature check and the claims decode.

Only a token that verified is kept, and a hit is served only while every rule the verification
applied to time still holds by the injected clock (`exp` with the leeway, `nbf`, `iat`), and only
for the same configuration object it was verified under (another secret, key or JWKS URL never
sees it). An entry also lives at most `ttl_ms` (monotonic), so a key withdrawn from a JWKS stops
passing within it. Bounded: at most `entries_max` tokens; the oldest is dropped first. Pure: no
I/O, no clock of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class ClaimsTimeError(Exception):
    """A time claim that is malformed or does not hold now (the message says which)."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Milliseconds during which a token's time claims hold: `start_ms <= now < end_ms`."""

    start_ms: int
    end_ms: int


def time_window(claims: Mapping[str, Any], leeway_s: int) -> TimeWindow:
    """The window PyJWT's exp/nbf/iat checks describe (exp is required here). Raises
    ClaimsTimeError for a claim that is not an integer."""

    def integer(name: str) -> int | None:
        if name not in claims:
            return None
        try:
            return int(claims[name])
        except (ValueError, TypeError, OverflowError):
            raise ClaimsTimeError(f"invalid token: the {name} claim must be an integer") from None

    exp, nbf, iat = integer("exp"), integer("nbf"), integer("iat")
    if exp is None:
        raise ClaimsTimeError('invalid token: Token is missing the "exp" claim')
    start = max((c for c in (nbf, iat) if c is not None), default=None)
    return TimeWindow(-(1 << 62) if start is None else (start - leeway_s) * 1000, (exp + leeway_s) * 1000)


def check_window(window: TimeWindow, now_ms: int) -> None:
    """Raises ClaimsTimeError unless `now_ms` is inside the window."""
    if now_ms >= window.end_ms:
        raise ClaimsTimeError("token expired", expired=True)
    if now_ms < window.start_ms:
        raise ClaimsTimeError("invalid token: The token is not yet valid (nbf/iat)")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    scope: object  # the configuration the token was verified under
    window: TimeWindow
    cached_at: float  # monotonic seconds


class ClaimsCache(Generic[V]):
    def __init__(self) -> None:
        self._entries: dict[str, _Entry[V]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, scope: object, now_ms: int, monotonic_s: float, ttl_ms: int) -> V | None:
        entry = self._entries.get(token)
        if (
            entry is None
            or entry.scope is not scope
            or not entry.window.start_ms <= now_ms < entry.window.end_ms
            or not 0 <= (monotonic_s - entry.cached_at) * 1000 < ttl_ms
        ):
            if entry is not None:
                del self._entries[token]
            self.misses += 1
            return None
        self.hits += 1
        return entry.value

    def put(
        self, token: str, scope: object, value: V, window: TimeWindow, monotonic_s: float, entries_max: int
    ) -> None:
        if entries_max <= 0:
            return
        entries = self._entries
        entries.pop(token, None)
        while len(entries) >= entries_max:
            del entries[next(iter(entries))]  # the oldest first (dicts keep insertion order)
        entries[token] = _Entry(value, scope, window, monotonic_s)

    def clear(self) -> None:
        self._entries.clear()
        self.hits = self.misses = 0
