"""A region with history over real HTTP (LiveServer), and a seeded score history played through the
signed POST /v1/scores with the exact oracle (tests/region/oracle.py) kept alongside."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis as sync_redis
from podium.region.api.app import create_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.model import Board, Operator, RankedEntry, ScoreEntry, SortOrder
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import graphql, now_ms, post_scores
from tests.region.oracle import OracleBoard

RETRIES_MAX = 20


def post_answered(base: str, body: dict[str, Any]) -> httpx.Response:
    """POST /v1/scores again as a game server does: a 503 or 429 (Redis or the history backlog busy,
    a rate limit; on a loaded machine) is retried after its Retry-After, at most `RETRIES_MAX` times;
    the answer must be 200. For resending batches already applied (their entries are duplicates)."""
    for _ in range(RETRIES_MAX):
        r = post_scores(base, body)
        if r.status_code not in (429, 503):
            break
        time.sleep(min(5.0, float(r.headers.get("Retry-After", "1"))))
    assert r.status_code == 200, r.text
    return r


# Every operator and order, with ties (few scores and times), duplicates, rejections and quarantine.
BOARDS: dict[str, dict[str, Any]] = {
    "best": {"operator": "best"},
    "asc": {"operator": "best", "order": "asc"},
    "latest": {"operator": "latest"},
    "incr": {"operator": "increment"},
    "decr": {"operator": "decrement", "order": "asc"},
    "capped": {"operator": "best", "score_min": -5, "max_delta_per_minute": 15},
}
RECOVERY_WAIT_S = 30.0


def history_settings(redis_url: str, data_dir: Path, cassandra: dict[str, Any] | None = None, **history: Any) -> Settings:
    h: dict[str, Any] = {"snapshot_interval_s": 0, "rebuild_settle_ms": 100, **(cassandra or {}), **history}
    return region_settings(redis_url, data_dir=data_dir, history=h)


def start(settings: Settings) -> LiveServer:
    # a fresh copy each start: LiveServer picks the port, and a restart is a new process in spirit
    return LiveServer(create_app, settings.model_copy(deep=True, update={"port": 0})).start()


def admin_gql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}},
                   headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def full_board(base: str, board: str) -> tuple[str, list[RankedEntry]]:
    doc = graphql(base, "query($b:String!){ leaderboard(board:$b, first:100){ status totalCount "
                        "edges { node { rank player score achievedAt } } } }", {"b": board})
    assert "errors" not in doc, doc
    conn = doc["data"]["leaderboard"]
    entries = [RankedEntry(n["rank"], n["player"], n["score"], n["achievedAt"]) for n in (e["node"] for e in conn["edges"])]
    assert conn["status"] != "LIVE" or conn["totalCount"] == len(entries)
    return conn["status"], entries


def wait_live(base: str, boards: list[str]) -> None:
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while time.monotonic() < deadline:
        if all(full_board(base, b)[0] == "LIVE" for b in boards):
            return
        time.sleep(0.05)
    raise AssertionError(f"boards not LIVE within {RECOVERY_WAIT_S} s")


def flushall(redis_url: str) -> None:
    client = sync_redis.Redis.from_url(redis_url)
    try:
        client.flushall()
        assert client.dbsize() == 0
    finally:
        client.close()


@dataclass
class Scenario:
    """Posts seeded batches and keeps the oracle of every board in step with the server's answers."""

    base: str
    seed: int
    boards: dict[str, OracleBoard] = field(default_factory=dict)
    accepted: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (board, player) -> entries
    archived: dict[str, list[RankedEntry]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)   # every batch body posted, in order
    statuses: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.t0 = now_ms() - 30_000
        self.events = 0

    def create_boards(self) -> None:
        for board_id, spec in BOARDS.items():
            r = httpx.post(f"{self.base}/v1/admin/boards", json={"id": board_id, **spec},
                           headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            assert r.status_code == 201, r.text
            self.boards[board_id] = OracleBoard(Board(board_id, operator=Operator(spec["operator"]),
                                                      order=SortOrder(spec.get("order", "desc"))))

    def _entry(self) -> dict[str, Any]:
        board = self.rng.choice(sorted(BOARDS))
        self.events += 1
        if self.sent and self.rng.random() < 0.05:   # a reused event id: a duplicate
            event_id = self.rng.choice(self.rng.choice(self.sent)["entries"])["event_id"]
        else:
            event_id = f"ev-{self.seed}-{self.events}"
        return {"board": board, "player": f"p{self.rng.randrange(12)}", "score": self.rng.randrange(-1, 6) * 10,
                "achieved_at": self.t0 + self.rng.randrange(4), "event_id": event_id}

    def post_batch(self, n: int = 40) -> None:
        body = {"entries": [self._entry() for _ in range(n)]}
        r = post_scores(self.base, body)
        assert r.status_code == 200, r.text
        self.sent.append(body)
        for raw, result in zip(body["entries"], r.json()["results"], strict=True):
            self._check(raw, result)

    def _check(self, raw: dict[str, Any], result: dict[str, Any]) -> None:
        status = result["status"]
        self.statuses[status] = self.statuses.get(status, 0) + 1
        oracle = self.boards[raw["board"]]
        if status == "quarantined":
            assert raw["board"] == "capped", (raw, result)
            oracle.seen_events.add(raw["event_id"])    # apply.lua remembers a quarantined event id too
            return
        if status == "rejected" and result.get("reason") != "duplicate event":
            return                                      # invalid: never reached the board
        entry = ScoreEntry(raw["board"], raw["player"], raw["score"], raw["achieved_at"], raw["event_id"])
        code = oracle.apply(entry)
        assert code == {"applied": "a", "unchanged": "u", "rejected": "d"}[status], (raw, result, code)
        if code in ("a", "u"):
            self.accepted.setdefault((raw["board"], raw["player"]), []).append(raw)

    def reset(self, board_id: str) -> None:
        doc = admin_gql(self.base, "mutation($b:String!){ resetBoard(board:$b){ season } }", {"b": board_id})
        assert "errors" not in doc, doc
        old = self.boards[board_id]
        self.archived[board_id] = old.ranking()
        fresh = OracleBoard(Board(board_id, operator=old.board.operator, order=old.board.order,
                                  season=doc["data"]["resetBoard"]["season"]))
        fresh.seen_events = old.seen_events             # the dedup set is the board's, across seasons
        self.boards[board_id] = fresh
        self.accepted = {k: v for k, v in self.accepted.items() if k[0] != board_id}

    def assert_boards_equal_oracle(self, base: str) -> None:
        for board_id, oracle in sorted(self.boards.items()):
            status, entries = full_board(base, board_id)
            assert status == "LIVE"
            assert entries == oracle.ranking(), board_id
