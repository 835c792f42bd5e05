"""The `submitEvents` mutation over a real Hypercorn server: the same per-event results as signed
POST /v1/events, Idempotency-Key replay, admin only, and any JSON value in any variable answered
with coded errors (never a 5xx, never an uncoded error)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.devtools.testing import LiveServer
from tests.conftest import ADMIN_KEY
from tests.region.helpers import now_ms, unique
from tests.trending.test_api import create_stream, ev, post_events, trending

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SUBMIT = ("mutation($e:[EventInput!]!,$k:String){ submitEvents(events:$e, idempotencyKey:$k) }")
CODES = {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "RATE_LIMITED", "UNAVAILABLE"}


def submit(base: str, variables: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{base}/graphql", json={"query": SUBMIT, "variables": variables},
                      headers=ADMIN if headers is None else headers, timeout=30)


def as_input(event: dict[str, Any]) -> dict[str, Any]:
    out = {("eventId" if k == "event_id" else k): v for k, v in event.items()}
    return out


def test_submit_events_answers_like_post_events(live_region: LiveServer) -> None:
    base = live_region.url
    via_http, via_gql = create_stream(base, dimensions=["mode"]), create_stream(base, dimensions=["mode"])

    def batch(stream: str, tag: str) -> list[dict[str, Any]]:
        dup = ev(stream, "dust2", dims={"mode": "ranked"}, event_id=f"{tag}-dup")
        return [dup, dup, ev(stream, "dust2", weight=2), ev(stream, "inferno", dims={"mode": "casual"}),
                ev(stream, "x", dims={"region": "eu"}), ev(stream, "x", at=1), ev(stream, "\x01"),
                ev(stream, "nuke", weight=0), ev("nope", "x")]

    expected = post_events(base, {"events": batch(via_http, "h")})
    assert expected.status_code == 200, expected.text
    r = submit(base, {"e": [as_input(e) for e in batch(via_gql, "g")]})
    doc = r.json()
    assert "errors" not in doc, doc
    # the same results (reasons name each test's own stream)
    assert doc["data"]["submitEvents"] == orjson.loads(expected.text.replace(via_http, via_gql))
    assert doc["data"]["submitEvents"]["counts"] == {"applied": 3, "duplicate": 1, "rejected": 5}
    items = trending(base, via_gql)["data"]["trending"]["items"]
    assert [(i["item"], i["count"]) for i in items] == [("dust2", 3), ("inferno", 1)]


def test_submit_events_replays_with_its_idempotency_key_and_needs_an_admin(live_region: LiveServer) -> None:
    base = live_region.url
    stream = create_stream(base)
    events = [as_input(ev(stream, "dust2"))]
    key = unique("idem")
    first = submit(base, {"e": events, "k": key}).json()["data"]["submitEvents"]
    again = submit(base, {"e": events, "k": key}).json()["data"]["submitEvents"]
    assert first == again and first["counts"]["applied"] == 1   # replayed, not "duplicate"
    conflict = submit(base, {"e": [as_input(ev(stream, "nuke"))], "k": key}).json()
    assert conflict["errors"][0]["extensions"]["code"] == "CONFLICT"
    anonymous = submit(base, {"e": events}, headers={}).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert trending(base, stream)["data"]["trending"]["total"] == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@st.composite
def hostile_events(draw: st.DrawFn, stream: str) -> Any:
    """Mostly event-shaped objects with any JSON value in any field, sometimes any JSON at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    event: dict[str, Any] = {"stream": stream, "item": "dust2", "at": now_ms() - 1000, "eventId": unique("e")}
    for name in draw(st.lists(st.sampled_from(["stream", "item", "at", "eventId", "weight", "dims", "extra"]),
                              max_size=3)):
        event[name] = draw(json_values)
    return event


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_json_in_any_variable_is_a_coded_error_or_per_event_results(live_region: LiveServer,
                                                                         data: st.DataObject) -> None:
    stream = "fuzz-events"
    httpx.post(f"{live_region.url}/v1/admin/streams", json={"id": stream, "dimensions": ["mode"]}, headers=ADMIN)
    events = data.draw(st.one_of(st.lists(hostile_events(stream), max_size=6), json_values))
    key = data.draw(st.none() | json_values)
    r = submit(live_region.url, {"e": events, "k": key})
    assert r.status_code < 500, r.text
    doc = r.json()
    for error in doc.get("errors") or []:
        assert error.get("extensions", {}).get("code") in CODES, error
    answer = (doc.get("data") or {}).get("submitEvents")
    if answer is not None:
        assert isinstance(events, list) and len(answer["results"]) == len(events)
        assert sum(answer["counts"].values()) == len(events)
        assert [r["index"] for r in answer["results"]] == list(range(len(events)))
