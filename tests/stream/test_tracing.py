"""One trace across real processes: a game server's `POST /v1/scores` carrying a W3C `traceparent`
is continued by the region server's span, travels in the Kafka records' headers, and the stream
worker's `stream.apply` span is its child. Each process exports its spans as JSON lines
(`metrics.spans_dir`, the SDK's span exporter); a batch posted without a context starts its own trace."""

from __future__ import annotations

import glob
import json
import os
import secrets
import tempfile
from typing import Any

from tests.region.helpers import create_board, entry, post_scores
from tests.stream.conftest import wait_until
from tests.stream.poster import board_scores


def spans(directory: str, service: str) -> list[dict[str, Any]]:
    out = []
    for path in glob.glob(os.path.join(directory, f"{service}-*.jsonl")):
        with open(path) as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def test_a_score_posts_trace_reaches_the_workers_apply_span(stream_region: Any) -> None:
    spans_dir = tempfile.mkdtemp(prefix="podium-spans-")
    region = stream_region(workers=1, PODIUM_METRICS__SPANS_DIR=spans_dir)
    board = create_board(region.url, operator="increment")
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    traced = [entry(board, f"p{i}", 1) for i in range(50)]
    r = post_scores(region.url, {"entries": traced}, headers={"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert r.status_code == 200, r.text
    untraced = [entry(board, f"q{i}", 1) for i in range(50)]
    assert post_scores(region.url, {"entries": untraced}).status_code == 200
    wait_until(lambda: len(board_scores(region.url, board)) == 100, 90)

    (request,) = [s for s in spans(spans_dir, "podium-region") if s["name"] == "POST /v1/scores"
                  and s["context"]["trace_id"] == f"0x{trace_id}"]
    assert request["parent_id"] == f"0x{caller_span}" and request["kind"] == "SpanKind.SERVER"
    # one record per partition the batch touched, each applied under a child of the request's span
    partitions = {x["partition"] for x in r.json()["results"]}

    def applied() -> list[dict[str, Any]]:
        return [s for s in spans(spans_dir, "podium-worker") if s["name"] == "stream.apply"]

    wait_until(lambda: len([s for s in applied() if s["context"]["trace_id"] == f"0x{trace_id}"]) >= len(partitions), 30)
    mine = [s for s in applied() if s["context"]["trace_id"] == f"0x{trace_id}"]
    assert {s["parent_id"] for s in mine} == {request["context"]["span_id"]}
    # the batch posted without a traceparent started its own trace (this process exports spans)
    roots = {s["context"]["trace_id"]: s for s in spans(spans_dir, "podium-region") if s["name"] == "POST /v1/scores"}
    others = {s["context"]["trace_id"] for s in applied()} - {f"0x{trace_id}"}
    assert len(others) == 1 and roots[others.pop()]["parent_id"] is None
    assert sum(s["attributes"]["podium.entries"] for s in mine) == len(traced)
    assert {s["attributes"]["messaging.destination.partition.id"] for s in mine} == {str(p) for p in partitions}
    assert {s["resource"]["attributes"]["service.name"] for s in mine} == {"podium-worker"}
