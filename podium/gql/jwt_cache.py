"""Verified JWT claims remembered per process, so a client that sends the same token on every
request pays its signature check once (PyJWT's decode was ~5% of an inbox query's CPU).

A hit is the exact token string already verified with the same keys (`Verifier`: the secret,
public key, JWKS URL and algorithms, compared on every hit, so a changed configuration is a miss),
within `ttl_ms` of that check and before the token's own `exp` (plus the leeway PyJWT allowed).
Only successes are kept; refusals are decided afresh each time. Bounded: at most `entries_max`
tokens, the least recently used dropped first. The clock is the caller's (`now_s`)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

Verifier = tuple[Any, ...]  # what the token was verified with: (secret, public key, JWKS URL, algorithms)


class ClaimsCache:
    """Claims of verified tokens, keyed by the token string."""

    __slots__ = ("entries", "entries_max", "hits", "ttl_s")

    def __init__(self, entries_max: int, ttl_ms: int) -> None:
        self.entries: OrderedDict[str, tuple[float, Verifier, dict[str, Any]]] = OrderedDict()
        self.entries_max = entries_max
        self.ttl_s = ttl_ms / 1000
        self.hits = 0

    def get(self, token: str, verifier: Verifier, now_s: float) -> dict[str, Any] | None:
        """The claims verified earlier with `verifier`, still valid at `now_s`, or None."""
        entry = self.entries.get(token)
        if entry is None:
            return None
        until, known, claims = entry
        if now_s >= until or known != verifier:
            del self.entries[token]
            return None
        self.entries.move_to_end(token)
        self.hits += 1
        return claims

    def put(
        self, token: str, verifier: Verifier, claims: dict[str, Any], now_s: float, leeway_s: float
    ) -> None:
        """Remembers a token just verified (its `exp` is required, so always present)."""
        if self.entries_max <= 0 or self.ttl_s <= 0:
            return
        try:
            expires_s = float(claims["exp"]) + leeway_s
        except (KeyError, TypeError, ValueError):
            return
        until = min(now_s + self.ttl_s, expires_s)
        if until <= now_s:
            return
        self.entries[token] = (until, verifier, claims)
        self.entries.move_to_end(token)
        while len(self.entries) > self.entries_max:
            self.entries.popitem(last=False)
