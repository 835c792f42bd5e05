"""Webhook endpoints, what they receive and how a delivery is signed (pure).

A delivery is `POST <url>` with a JSON body (one notification) and the headers
    X-Podium-Key        the endpoint id
    X-Podium-Timestamp  Unix ms of this attempt
    X-Podium-Signature  hex HMAC-SHA256(secret, "POST\\n" PATH "\\n" TIMESTAMP "\\n" BODY)
    X-Podium-Event-Id   the notification id: the same on every retry (idempotency key)
the scheme of signed score batches (podium.signing), so `podium.signing.verify` checks it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from podium.errors import BadUserInput
from podium.notify_rules import RuleKind
from podium.signing import signed_headers

EVENT_ID_HEADER = "X-Podium-Event-Id"
CONTEST_SETTLED = "contest_settled"   # not a rule: region/contests publishes each settlement to the outbox
SECRET_LEN_MIN = 16
TEXT_LEN_MAX = 2048


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    secret: str
    events: tuple[str, ...] = ()     # empty: every kind
    boards: tuple[str, ...] = ()     # empty: every board

    def wants(self, kind: str, board: str) -> bool:
        return (not self.events or kind in self.events) and (not self.boards or board in self.boards)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events"], d["boards"] = list(self.events), list(self.boards)
        return d

    def public(self) -> dict[str, Any]:
        """What admins are shown: never the secret."""
        d = self.to_dict()
        d.pop("secret")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Endpoint:
        return cls(d["id"], d["url"], d["secret"], tuple(d.get("events", ())), tuple(d.get("boards", ())))


def _strings(raw: dict[str, Any], name: str, allowed: set[str] | None = None) -> tuple[str, ...]:
    value = raw.get(name, [])
    if not isinstance(value, list) or len(value) > 100 or not all(
            isinstance(v, str) and 0 < len(v) <= 64 and (allowed is None or v in allowed) for v in value):
        hint = f" from {sorted(allowed)}" if allowed else ""
        raise BadUserInput(f"{name} must be a list of at most 100 names{hint}", field=name)
    return tuple(value)


def parse_endpoint(raw: object) -> Endpoint:
    """An endpoint from untrusted JSON."""
    if not isinstance(raw, dict):
        raise BadUserInput("a webhook endpoint must be a JSON object")
    ident, url, secret = raw.get("id"), raw.get("url"), raw.get("secret")
    if not isinstance(ident, str) or not 1 <= len(ident) <= 64 or not ident.isprintable() or "/" in ident:
        raise BadUserInput("id must be a printable string of 1 to 64 characters without '/'", field="id")
    if not isinstance(url, str) or len(url) > TEXT_LEN_MAX:
        raise BadUserInput("url must be an http(s) URL", field="url")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BadUserInput("url must be an http(s) URL", field="url")
    if not isinstance(secret, str) or not SECRET_LEN_MIN <= len(secret) <= 256:
        raise BadUserInput(f"secret must be a string of {SECRET_LEN_MIN} to 256 characters", field="secret")
    return Endpoint(ident, url, secret, _strings(raw, "events", {k.value for k in RuleKind} | {CONTEST_SETTLED}), _strings(raw, "boards"))


def delivery_headers(endpoint: Endpoint, event_id: str, body: bytes, now_ms: int) -> dict[str, str]:
    path = urlsplit(endpoint.url).path or "/"
    headers = signed_headers(endpoint.id, endpoint.secret, "POST", path, now_ms, body)
    headers[EVENT_ID_HEADER] = event_id
    headers["Content-Type"] = "application/json"
    return headers


class Routes:
    """Which endpoints want an event of (kind, board), looked up through the endpoints indexed by
    board instead of asking each endpoint (at 1,000 endpoints, asking all of them per outbox entry
    was a tenth of the delivery worker's CPU). Answers are memoized, at most `memo_max` of them."""

    def __init__(self, endpoints: Iterable[Endpoint], memo_max: int = 10_000) -> None:
        self._any_board: list[Endpoint] = []
        self._by_board: dict[str, list[Endpoint]] = {}
        for e in sorted(endpoints, key=lambda e: e.id):
            if e.boards:
                for board in set(e.boards):
                    self._by_board.setdefault(board, []).append(e)
            else:
                self._any_board.append(e)
        self._memo: dict[tuple[str, str], tuple[str, ...]] = {}
        self._memo_max = max(1, memo_max)

    def __call__(self, kind: str, board: str) -> tuple[str, ...]:
        key = (kind, board)
        found = self._memo.get(key)
        if found is None:
            found = tuple(sorted(e.id for e in (*self._by_board.get(board, ()), *self._any_board)
                                 if e.wants(kind, board)))
            if len(self._memo) >= self._memo_max:
                self._memo.clear()
            self._memo[key] = found
        return found


def backoff_ms(attempt: int, base_ms: int, cap_ms: int, rng: random.Random) -> int:
    """Full-jitter exponential backoff: uniform in [delay/2, delay], delay = min(cap, base * 2^attempt)."""
    delay = min(cap_ms, base_ms * (2 ** min(attempt, 30)))
    return int(rng.uniform(delay / 2, delay))
