"""HTTP → scores topic → `podium worker` (Faust) → Redis, over a real broker and real processes."""

from __future__ import annotations

from typing import Any

from tests.region.helpers import create_board, entry, post_scores, top, unique
from tests.stream.conftest import admin_get, wait_until


def test_batches_posted_over_http_end_up_ranked_through_the_worker(stream_region: Any) -> None:
    region = stream_region(workers=1)
    board = create_board(region.url, operator="increment")
    batch = [entry(board, f"p{i % 40}", i + 1) for i in range(200)]
    r = post_scores(region.url, {"entries": batch})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert {x["status"] for x in results} == {"accepted"}
    assert all(isinstance(x["offset"], int) and isinstance(x["partition"], int) for x in results)
    expected: dict[str, int] = {}
    for e in batch:
        expected[e["player"]] = expected.get(e["player"], 0) + e["score"]
    rows = wait_until(lambda: (lambda t: t if len(t) == 40 and {x["player"]: x["score"] for x in t} == expected
                               else None)(top(region.url, board)), 60)
    assert [x["rank"] for x in rows] == list(range(1, 41))


def test_wait_flag_reports_the_resulting_rank_and_rejects_stay_per_entry(stream_region: Any) -> None:
    region = stream_region(workers=1)
    board = create_board(region.url)
    r = post_scores(region.url, {"entries": [entry(board, "alice", 500), {"board": board, "player": "bob"},
                                             entry(board, "carol", 900)]})
    assert r.status_code == 200, r.text
    first = r.json()["results"]
    assert [x["status"] for x in first] == ["accepted", "rejected", "accepted"]
    assert "offset" not in first[1]
    # the worker has joined and applied the first batch; `wait` is bounded (5 s), a worker's start is not
    wait_until(lambda: len(top(region.url, board)) == 2, 60)
    r = post_scores_wait(region.url, {"entries": [entry(board, "dave", 700)]})
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["status"] == "accepted" and result["ranked"] is True
    assert result["rank"] == 2 and result["score"] == 700     # carol 900 was applied before (same or earlier offsets)


def post_scores_wait(base: str, body: dict[str, Any]) -> Any:
    import httpx
    import orjson

    from podium.signing import signed_headers
    from tests.conftest import GAME_KEY_ID, GAME_SECRET
    from tests.region.helpers import now_ms

    raw = orjson.dumps(body)
    h = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", now_ms(), raw)
    return httpx.post(f"{base}/v1/scores?wait=true", content=raw, headers=h, timeout=30)


def test_duplicates_applied_once_and_quarantine_visible_to_admins_never_ranked(stream_region: Any) -> None:
    region = stream_region(workers=1, PODIUM_KAFKA__PLAYER_ENTRIES_PER_MINUTE_MAX="3")
    board = create_board(region.url, operator="increment")
    once = [entry(board, f"p{i}", 5, ev=unique("ev")) for i in range(20)]
    assert post_scores(region.url, {"entries": once}).status_code == 200
    assert post_scores(region.url, {"entries": once}).status_code == 200        # a retried batch
    spam = [entry(board, "spammer", 1) for _ in range(6)]
    assert post_scores(region.url, {"entries": spam}).status_code == 200
    wait_until(lambda: len(admin_get(region.url, "/v1/admin/quarantine", board=board)["entries"]) == 3, 60)
    rows = wait_until(lambda: (lambda t: t if len(t) == 21 else None)(top(region.url, board)), 60)
    scores = {x["player"]: x["score"] for x in rows}
    assert scores.pop("spammer") == 3
    assert scores == {f"p{i}": 5 for i in range(20)}
    held = admin_get(region.url, "/v1/admin/quarantine", board=board)["entries"]
    assert {(q["player"], q["reason"]) for q in held} == {("spammer", "rate")}


def test_submit_scores_mutation_goes_through_the_event_log(stream_region: Any) -> None:
    import httpx

    from tests.conftest import ADMIN_KEY
    from tests.region.helpers import now_ms

    region = stream_region(workers=1)
    board = create_board(region.url)
    doc = httpx.post(f"{region.url}/graphql", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, json={
        "query": "mutation($e:[ScoreInput!]!){ submitScores(entries:$e) }",
        "variables": {"e": [{"board": board, "player": "gql", "score": 42, "achievedAt": now_ms() - 1000,
                             "eventId": unique("ev")}]}}).json()
    assert "errors" not in doc, doc
    (result,) = doc["data"]["submitScores"]["results"]
    assert result["status"] == "accepted" and "offset" in result
    rows = wait_until(lambda: top(region.url, board), 30)
    assert [(x["rank"], x["player"], x["score"]) for x in rows] == [(1, "gql", 42)]
