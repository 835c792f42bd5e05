"""POST /v1/scores over a real Hypercorn server: signatures, replay, staleness, malformed input,
size limits, per-entry rejections that never drop good entries, idempotent batches, quarantine."""

from __future__ import annotations

import httpx
import orjson
import pytest

from podium.devtools.testing import LiveServer
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import create_board, entry, graphql, now_ms, post_scores, top, unique


def test_valid_batch_is_ranked_and_readable_over_graphql(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    r = post_scores(live_region.url, {"entries": [entry(board, "ann", 30), entry(board, "bob", 50), entry(board, "cid", 40)]})
    assert r.status_code == 200
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["applied"] * 3
    assert body["counts"]["applied"] == 3
    assert [(n["rank"], n["player"], n["score"]) for n in top(live_region.url, board)] == [
        (1, "bob", 50), (2, "cid", 40), (3, "ann", 30)]
    doc = graphql(live_region.url, 'query($b:String!){ player(id:"cid"){ rank(board:$b) score(board:$b) } }', {"b": board})
    assert doc["data"]["player"] == {"rank": 2, "score": 40}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ({"secret": "wrong"}, "signature does not match the request (method, path, timestamp, body)"),
        ({"key_id": "nobody"}, "unknown game-server key id 'nobody'"),
        ({"timestamp_ms": 1_000}, "request timestamp is outside the allowed window of 300s (stale or clock skew)"),
        ({"headers": {"X-Podium-Timestamp": "yesterday"}}, "X-Podium-Timestamp must be Unix time in milliseconds"),
        ({"headers": {"X-Podium-Signature": ""}}, "missing X-Podium-Key, X-Podium-Timestamp or X-Podium-Signature header"),
    ],
)
def test_bad_credentials_are_401_with_a_clear_message(live_region: LiveServer, mutate: dict, message: str) -> None:  # type: ignore[type-arg]
    board = create_board(live_region.url)
    r = post_scores(live_region.url, {"entries": [entry(board, "ann", 1)]}, **mutate)
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "UNAUTHENTICATED", "message": message}}
    assert top(live_region.url, board) == []


def test_replayed_signature_is_rejected(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    raw = orjson.dumps({"entries": [entry(board, "ann", 1)]})
    headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", now_ms(), raw)
    first = httpx.post(f"{live_region.url}/v1/scores", content=raw, headers=headers)
    again = httpx.post(f"{live_region.url}/v1/scores", content=raw, headers=headers)
    assert first.status_code == 200
    assert again.status_code == 401
    assert again.json()["error"]["message"] == "signature was already used: replayed request"


def test_signature_covers_the_path(live_region: LiveServer) -> None:
    raw = b'{"entries":[]}'
    headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/other", now_ms(), raw)
    r = httpx.post(f"{live_region.url}/v1/scores", content=raw, headers=headers)
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b'{"entries": [', 400, None),
        (b"[]", 400, "body must be a JSON object with an 'entries' array"),
        (b'{"entries": {}}', 400, "body must be a JSON object with an 'entries' array"),
        (b'{"entries": []}', 400, "'entries' must not be empty"),
    ],
)
def test_malformed_bodies(live_region: LiveServer, raw: bytes, status: int, message: str | None) -> None:
    r = post_scores(live_region.url, raw)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == "BAD_USER_INPUT"
    if message is None:
        assert error["message"].startswith("malformed JSON: ")
    else:
        assert error["message"] == message


def test_oversize_batch_is_413(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    r = post_scores(live_region.url, {"entries": [entry(board, f"p{i}", i) for i in range(1001)]})
    assert r.status_code == 413
    assert r.json()["error"]["message"] == "batch has 1001 entries; the limit is 1000"
    assert top(live_region.url, board) == []


def test_oversize_body_is_413(live_region: LiveServer) -> None:
    raw = b'{"entries": ["' + b"x" * 1_100_000 + b'"]}'
    r = post_scores(live_region.url, raw)
    assert r.status_code == 413
    assert r.json()["error"]["message"] == f"body is {len(raw)} bytes; the limit is 1048576"


def test_bad_entries_are_reported_one_by_one_and_good_ones_kept(live_region: LiveServer) -> None:
    board = create_board(live_region.url, score_min=0, score_max=1000)
    dup = unique("ev")
    entries = [
        entry(board, "good1", 10),
        entry("no-such-board", "x", 1),
        entry(board, "x", 1001),
        entry(board, "x", "12"),
        entry(board, "x", 1.5),
        entry(board, "p" * 65, 5),
        entry(board, "bad id!", 5),
        {"board": board, "player": "x", "score": 1, "event_id": "e"},
        entry(board, "good2", 20, ev=dup),
        entry(board, "good2", 999, ev=dup),
        entry(board, "x", 5, ts=now_ms() + 3_600_000),
        entry(board, "x", True),
        "not an object",
        entry(board, "good3", 30.0),
    ]
    r = post_scores(live_region.url, {"entries": entries})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [(x["status"], x.get("reason")) for x in results] == [
        ("applied", None),
        ("rejected", "unknown board 'no-such-board'"),
        ("rejected", "score 1001 is out of bounds [0, 1000]"),
        ("rejected", "score must be an integer"),
        ("rejected", "score must be an integer"),
        ("rejected", "player id must be 1-64 characters of A-Z a-z 0-9 _ . : @ -"),
        ("rejected", "player id must be 1-64 characters of A-Z a-z 0-9 _ . : @ -"),
        ("rejected", "missing field 'achieved_at'"),
        ("applied", None),
        ("rejected", "duplicate event"),
        ("rejected", "achieved_at is in the future"),
        ("rejected", "score must be an integer"),
        ("rejected", "entry must be a JSON object"),
        ("applied", None),
    ]
    assert [(n["player"], n["score"]) for n in top(live_region.url, board)] == [("good3", 30), ("good2", 20), ("good1", 10)]


def test_huge_numbers_are_rejected_not_500(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    raw = (f'{{"entries": [{{"board": "{board}", "player": "a", "score": 1e400, "achieved_at": 1, "event_id": "e1"}},'
           f'{{"board": "{board}", "player": "b", "score": 99999999999999999999999, "achieved_at": 1, "event_id": "e2"}},'
           f'{{"board": "{board}", "player": "c", "score": 9007199254740993, "achieved_at": 1, "event_id": "e3"}},'
           f'{{"board": "{board}", "player": "d", "score": 9007199254740992, "achieved_at": 1, "event_id": "e4"}}]}}').encode()
    r = post_scores(live_region.url, raw)
    assert r.status_code == 200, r.text
    reasons = [x.get("reason") for x in r.json()["results"]]
    assert reasons == ["score must be an integer", "score must be within ±2^53", "score must be within ±2^53", None]
    assert r.json()["results"][3]["status"] == "applied"
    assert top(live_region.url, board) == [{"rank": 1, "player": "d", "score": 2**53, "achievedAt": 1}]


def test_same_batch_twice_applies_once(live_region: LiveServer) -> None:
    board = create_board(live_region.url, operator="increment")
    body = {"entries": [entry(board, "ann", 5), entry(board, "bob", 7)]}
    key = unique("idem")
    first = post_scores(live_region.url, body, idempotency_key=key)
    second = post_scores(live_region.url, body, idempotency_key=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert [(n["player"], n["score"]) for n in top(live_region.url, board)] == [("bob", 7), ("ann", 5)]
    other = post_scores(live_region.url, {"entries": [entry(board, "ann", 1)]}, idempotency_key=key)
    assert other.status_code == 409
    assert other.json()["error"]["message"] == "Idempotency-Key was already used with a different batch"


def test_max_delta_quarantines_and_admins_can_see_it(live_region: LiveServer) -> None:
    board = create_board(live_region.url, operator="increment", max_delta_per_minute=100)
    r = post_scores(live_region.url, {"entries": [entry(board, "ann", 10), entry(board, "ann", 60),
                                                   entry(board, "ann", 500), entry(board, "bob", 3)]})
    assert [x["status"] for x in r.json()["results"]] == ["applied", "applied", "quarantined", "applied"]
    assert [(n["player"], n["score"]) for n in top(live_region.url, board)] == [("ann", 70), ("bob", 3)]
    q = httpx.get(f"{live_region.url}/v1/admin/quarantine", params={"board": board},
                  headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert q.status_code == 200
    [row] = q.json()["entries"]
    assert (row["player"], row["score"], row["reason"]) == ("ann", 500, "max_delta")
    assert httpx.get(f"{live_region.url}/v1/admin/quarantine", params={"board": board}).status_code == 401
    assert httpx.get(f"{live_region.url}/v1/admin/quarantine", params={"board": board},
                     headers={"Authorization": "Bearer nope"}).status_code == 403


def test_graphql_errors_carry_codes(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    cases = [
        ('{ leaderboard(board:"nope-board"){ totalCount } }', "NOT_FOUND"),
        (f'{{ leaderboard(board:"{board}", first:0){{ totalCount }} }}', "BAD_USER_INPUT"),
        (f'{{ leaderboard(board:"{board}", first:5000){{ totalCount }} }}', "BAD_USER_INPUT"),
        (f'{{ leaderboard(board:"{board}", after:"!!"){{ totalCount }} }}', "BAD_USER_INPUT"),
        ("{ leaderboard(", "BAD_USER_INPUT"),
        ("{ nosuchfield }", "BAD_USER_INPUT"),
    ]
    for query, code in cases:
        doc = httpx.post(f"{live_region.url}/graphql", json={"query": query}).json()
        assert doc["errors"][0]["extensions"]["code"] == code, (query, doc)


def test_cursor_pages_walk_the_whole_board(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    post_scores(live_region.url, {"entries": [entry(board, f"p{i:02d}", i % 7) for i in range(40)]})
    full = top(live_region.url, board, 100)
    seen, after = [], None
    q = "query($b:String!,$a:String){ leaderboard(board:$b, first:7, after:$a){ edges { cursor node { rank player } } pageInfo { hasNextPage endCursor } } }"
    for _ in range(10):
        page = graphql(live_region.url, q, {"b": board, "a": after})["data"]["leaderboard"]
        seen += [e["node"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == [{"rank": n["rank"], "player": n["player"]} for n in full]
