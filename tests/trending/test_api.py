"""Trending over a real Hypercorn server: signed POST /v1/events (per-entry results, duplicates,
idempotent retries, hostile input as coded 4xx), admin stream declarations, the `trending` query
(exact and approximate, dims, calendar ranges, errors) and the `trendingChanged` subscription."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import PROTOCOLS, Subscriber
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import graphql, now_ms, unique

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
QUERY = ("query($s:String!,$k:Int!,$p:Precision!,$d:JSON,$last:String,$cal:TrendingCalendar,$tz:String){"
         " trending(stream:$s, k:$k, precision:$p, dims:$d, last:$last, calendar:$cal, tz:$tz){"
         " from to precision total other guaranteed epsilon delta buckets items { rank item count lower upper errorBound } } }")
SUB = ("subscription($s:String!,$w:String!,$k:Int!){ trendingChanged(stream:$s, window:$w, k:$k){"
       " seq full items { rank item count } changes { kind item rank previousRank count previousCount } } }")


def create_stream(base: str, **fields: Any) -> str:
    stream = fields.pop("id", None) or unique("st")
    r = httpx.post(f"{base}/v1/admin/streams", json={"id": stream, **fields}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return stream


def post_events(base: str, body: bytes | dict[str, Any], idempotency_key: str | None = None,
                **sign: Any) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    h = signed_headers(sign.get("key_id", GAME_KEY_ID), sign.get("secret", GAME_SECRET), "POST", "/v1/events",
                       now_ms(), raw)
    if idempotency_key:
        h["Idempotency-Key"] = idempotency_key
    return httpx.post(f"{base}/v1/events", content=raw, headers=h)


def ev(stream: str, item: str, **more: Any) -> dict[str, Any]:
    return {"stream": stream, "item": item, "at": now_ms() - 1000, "event_id": unique("e"), **more}


def trending(base: str, stream: str, **args: Any) -> dict[str, Any]:
    variables = {"s": stream, "k": 10, "p": "EXACT", "last": "1h", **args}
    return graphql(base, QUERY, variables)


def test_events_are_counted_and_ranked(live_region: LiveServer) -> None:
    stream = create_stream(live_region.url, dimensions=["mode"])
    dup = ev(stream, "dust2", dims={"mode": "ranked"})
    events = [dup, dup, ev(stream, "dust2", weight=2), ev(stream, "inferno", dims={"mode": "casual"}),
              ev(stream, "nuke", dims={"mode": "ranked"}), {"stream": stream}, ev("nope", "x"),
              ev(stream, "x", dims={"region": "eu"}), ev(stream, "x", at=1), ev(stream, "\x01")]
    r = post_events(live_region.url, {"events": events})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["applied", "duplicate", "applied", "applied", "applied"] + [
        "rejected"] * 5
    assert body["counts"] == {"applied": 4, "duplicate": 1, "rejected": 5}
    doc = trending(live_region.url, stream)
    assert "errors" not in doc, doc
    t = doc["data"]["trending"]
    assert [(i["rank"], i["item"], i["count"]) for i in t["items"]] == [(1, "dust2", 3), (2, "inferno", 1), (3, "nuke", 1)]
    assert (t["total"], t["other"], t["guaranteed"], t["precision"]) == (5, 0, True, "EXACT")
    ranked = trending(live_region.url, stream, d={"mode": "ranked"})["data"]["trending"]
    assert [(i["item"], i["count"]) for i in ranked["items"]] == [("dust2", 1), ("nuke", 1)]
    approx = trending(live_region.url, stream, p="APPROXIMATE", k=2)["data"]["trending"]
    assert [(i["item"], i["count"], i["errorBound"]) for i in approx["items"]] == [("dust2", 3, 0), ("inferno", 1, 0)]
    assert approx["precision"] == "APPROXIMATE" and approx["epsilon"] > 0 and approx["delta"] == 0
    day = trending(live_region.url, stream, last=None, cal="DAY", tz="Asia/Kathmandu")["data"]["trending"]
    assert day["total"] == 5 and day["buckets"] >= 2 and day["from"] % 60_000 == 0


def test_idempotent_retry_replays_the_first_response(live_region: LiveServer) -> None:
    stream = create_stream(live_region.url)
    body = {"events": [ev(stream, "a"), ev(stream, "b")]}
    key = unique("idem")
    first = post_events(live_region.url, body, idempotency_key=key)
    again = post_events(live_region.url, body, idempotency_key=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert trending(live_region.url, stream)["data"]["trending"]["total"] == 2
    other = post_events(live_region.url, {"events": [ev(stream, "c")]}, idempotency_key=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "CONFLICT"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": 5}', b'{"events": []}', b"null",
                                  b'{"events": [' + b"1," * 10_000 + b"1]}"])
def test_hostile_batches_are_coded_4xx(live_region: LiveServer, body: bytes) -> None:
    r = post_events(live_region.url, body)
    assert r.status_code in (400, 413), r.text
    assert r.json()["error"]["code"] == "BAD_USER_INPUT"


def test_hostile_entries_are_rejected_one_by_one(live_region: LiveServer) -> None:
    stream = create_stream(live_region.url)
    hostile: list[Any] = [None, [], "x", 1.5, {"stream": stream, "item": "a", "at": 10**18, "event_id": "h1"},
               {"stream": stream, "item": "a", "at": now_ms(), "event_id": "h2", "weight": -1},
               {"stream": stream, "item": "a", "at": now_ms(), "event_id": "h3", "weight": 1e300},
               {"stream": stream, "item": "a" * 1000, "at": now_ms(), "event_id": "h4"},
               {"stream": stream, "item": "a", "at": now_ms(), "event_id": "h5", "dims": []},
               {"stream": [stream], "item": "a", "at": now_ms(), "event_id": "h6"},
               {"stream": stream, "item": "a", "at": now_ms(), "event_id": {"x": 1}}]
    r = post_events(live_region.url, b'{"events": [' + b",".join(orjson.dumps(h) for h in hostile)
                    + b', {"stream": "s", "item": "a", "at": 123456789012345678901234567890, "event_id": "big"}]}')
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"rejected"}


def test_unsigned_or_replayed_batches_are_401(live_region: LiveServer) -> None:
    stream = create_stream(live_region.url)
    raw = orjson.dumps({"events": [ev(stream, "a")]})
    assert httpx.post(f"{live_region.url}/v1/events", content=raw).status_code == 401
    assert post_events(live_region.url, raw, secret="wrong").status_code == 401
    h = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/events", now_ms(), raw)
    assert httpx.post(f"{live_region.url}/v1/events", content=raw, headers=h).status_code == 200
    again = httpx.post(f"{live_region.url}/v1/events", content=raw, headers=h)
    assert again.status_code == 401 and again.json()["error"]["code"] == "UNAUTHENTICATED"


def test_stream_admin(live_region: LiveServer) -> None:
    stream = create_stream(live_region.url, dimensions=["mode", "platform"], lateness_ms=60_000)
    listed = httpx.get(f"{live_region.url}/v1/admin/streams", headers=ADMIN).json()["streams"]
    assert any(s["id"] == stream and s["dimensions"] == ["mode", "platform"] for s in listed)
    assert httpx.get(f"{live_region.url}/v1/admin/streams").status_code == 401
    for bad in ({"id": stream}, {"id": "x", "dimensions": ["a", "b", "c", "d"]}, {"id": 5}, [1]):
        r = httpx.post(f"{live_region.url}/v1/admin/streams", json=bad, headers=ADMIN)
        assert (r.status_code, r.json()["error"]["code"]) in ((400, "BAD_USER_INPUT"), (409, "CONFLICT")), r.text


@pytest.mark.parametrize(("args", "code"), [
    ({"s": "missing-stream"}, "NOT_FOUND"), ({"k": 0}, "BAD_USER_INPUT"), ({"k": 1001}, "BAD_USER_INPUT"),
    ({"p": "ESTIMATED"}, "BAD_USER_INPUT"), ({"last": "3y"}, "BAD_USER_INPUT"), ({"d": [1]}, "BAD_USER_INPUT"),
    ({"d": {"nope": "x"}}, "BAD_USER_INPUT"), ({"last": None, "cal": "DAY", "tz": "Mars/Base"}, "BAD_USER_INPUT"),
    ({"cal": "DAY"}, "BAD_USER_INPUT"), ({"last": "999999w"}, "BAD_USER_INPUT"),
])
def test_bad_queries_are_coded(live_region: LiveServer, args: dict[str, Any], code: str) -> None:
    stream = create_stream(live_region.url)
    doc = trending(live_region.url, stream, **({"s": stream} | args))
    assert doc["errors"][0]["extensions"]["code"] == code, doc


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_trending_changed_full_then_diffs(live_region: LiveServer, protocol: str) -> None:
    stream = create_stream(live_region.url)
    await asyncio.to_thread(post_events, live_region.url, {"events": [ev(stream, "dust2"), ev(stream, "dust2"),
                                                                       ev(stream, "nuke")]})
    sub = await Subscriber(live_region.ws_url, protocol).connect()
    try:
        await sub.subscribe(SUB, {"s": stream, "w": "1h", "k": 3})
        first = (await asyncio.wait_for(sub.next(), 5))["data"]["trendingChanged"]
        assert first["full"] is True
        assert [(i["rank"], i["item"], i["count"]) for i in first["items"]] == [(1, "dust2", 2), (2, "nuke", 1)]
        await asyncio.to_thread(post_events, live_region.url, {"events": [ev(stream, "nuke") for _ in range(2)]
                                                               + [ev(stream, "mirage")]})
        second = (await asyncio.wait_for(sub.next(), 5))["data"]["trendingChanged"]
        assert second["full"] is False and second["seq"] > first["seq"]
        assert {(c["kind"], c["item"], c["rank"], c["count"]) for c in second["changes"]} == {
            ("SCORE_CHANGED", "nuke", 1, 3), ("MOVED", "dust2", 2, 2), ("ENTERED", "mirage", 3, 1)}
    finally:
        await sub.close()
