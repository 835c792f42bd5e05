"""Small helpers for talking to a live region in tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from hypothesis import strategies as st

from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET

_ids = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns() % 10**9}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def create_board(base: str, **fields: Any) -> str:
    board_id = fields.pop("id", None) or unique("b")
    r = httpx.post(f"{base}/v1/admin/boards", json={"id": board_id, **fields},
                   headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 201, r.text
    return board_id


def entry(board: str, player: str, score: Any, *, ts: int | None = None, ev: str | None = None) -> dict[str, Any]:
    return {"board": board, "player": player, "score": score, "achieved_at": ts if ts is not None else now_ms() - 1000,
            "event_id": ev or unique("ev")}


def post_scores(base: str, body: bytes | dict[str, Any], *, key_id: str = GAME_KEY_ID, secret: str = GAME_SECRET,
                timestamp_ms: int | None = None, headers: dict[str, str] | None = None,
                idempotency_key: str | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    h = signed_headers(key_id, secret, "POST", "/v1/scores", timestamp_ms or now_ms(), raw)
    if idempotency_key:
        h["Idempotency-Key"] = idempotency_key
    h.update(headers or {})
    return httpx.post(f"{base}/v1/scores", content=raw, headers=h)


def graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def top(base: str, board: str, first: int = 100) -> list[dict[str, Any]]:
    doc = graphql(base, "query($b:String!,$n:Int!){ leaderboard(board:$b, first:$n){ edges { node { rank player score achievedAt } } } }",
                  {"b": board, "n": first})
    assert "errors" not in doc, doc
    return [e["node"] for e in doc["data"]["leaderboard"]["edges"]]


def draw_variables(data: Any, document: str, value: Callable[[str], Any]) -> dict[str, Any]:
    """A hypothesis draw of the variables of `document` (`query($b: String, ...)`): each declared
    variable gets `value(name)`'s draw, and about one in ten is left out (missing is hostile too)."""
    declared = (v.strip() for v in document.split("(", 1)[1].split(")")[0].split(","))
    names = [v.split(":")[0].strip() for v in declared if v.startswith("$")]
    return {n[1:]: data.draw(value(n[1:]), label=n) for n in names
            if data.draw(st.integers(0, 9), label=f"{n} given") > 0}
