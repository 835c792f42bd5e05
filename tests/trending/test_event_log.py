"""Event-log mode over a real broker and real processes: POST /v1/events and submitEvents answer
`accepted` once the events topic has them, and `podium worker` counts them into the same buckets
(each event id once, also when a batch is sent twice)."""

from __future__ import annotations

from typing import Any

from tests.region.helpers import graphql
from tests.stream.conftest import kafka_bootstrap, kafka_broker, stream_region, wait_until  # noqa: F401 - fixtures
from tests.trending.test_api import QUERY, create_stream, ev, post_events
from tests.trending.test_submit_events import as_input, submit


def _top(base: str, stream: str) -> list[tuple[str, int]] | None:
    doc = graphql(base, QUERY, {"s": stream, "k": 10, "p": "EXACT", "last": "1h"})
    items = doc["data"]["trending"]["items"]
    return [(i["item"], i["count"]) for i in items]


def test_events_go_through_the_log_and_the_worker_counts_each_once(stream_region: Any) -> None:  # noqa: F811
    region = stream_region(workers=1, PODIUM_TRENDING__EVENT_LOG="true")
    stream = create_stream(region.url, dimensions=["mode"])
    batch = [ev(stream, "dust2", dims={"mode": "ranked"}) for _ in range(30)] + [ev(stream, "nuke") for _ in range(12)]
    batch.append(ev(stream, "bad", weight=0))
    r = post_events(region.url, {"events": batch})
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"accepted": 42, "rejected": 1}
    again = post_events(region.url, {"events": batch[:10]})      # the same ids: counted once by the worker
    assert again.json()["counts"] == {"accepted": 10, "rejected": 0}
    mutation = submit(region.url, {"e": [as_input(ev(stream, "mirage")) for _ in range(5)]}).json()
    assert mutation["data"]["submitEvents"]["counts"] == {"accepted": 5, "rejected": 0}, mutation
    want = [("dust2", 30), ("nuke", 12), ("mirage", 5)]
    assert wait_until(lambda: _top(region.url, stream) == want and want, 90) == want
    ranked = graphql(region.url, QUERY, {"s": stream, "k": 10, "p": "EXACT", "last": "1h", "d": {"mode": "ranked"}})
    assert [(i["item"], i["count"]) for i in ranked["data"]["trending"]["items"]] == [("dust2", 30)]
