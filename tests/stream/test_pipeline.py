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
