"""The typed (msgspec) decode path of `POST /v1/events` against the per-event validator: for any
batch, valid or hostile, the events it accepts (as columns, per stream) and the reasons it gives
for the rejected ones are exactly those of `events.validate_event` over the plain JSON."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.trending.decode import check_typed, decode_typed
from podium.region.trending.events import TrendEvent, validate_event
from podium.region.trending.ingest_plan import EventColumns, cells, levels
from podium.region.trending.streams import StreamSpec

from podium.config import TrendingSettings

LIMITS = TrendingSettings(item_len_max=8, event_id_len_max=6)
NOW = 1_764_470_000_000
STREAMS = {"a": StreamSpec("a", dimensions=("mode", "platform"), lateness_ms=60_000),
           "b": StreamSpec("b", lateness_ms=3_600_000)}

# strings of the right type (msgspec takes them; the batch-level checks judge them), rarely one
# msgspec refuses (empty, too many characters): then the whole batch takes the plain path
texts = st.one_of(st.sampled_from(["dust2", "nuke", "é", "ééééé", "x\n", "a\x00b", "a\x7f", "~other", "e 1"]),
                  st.text(min_size=1, max_size=5))
ats = st.integers(NOW - 4_000_000, NOW + 400_000)
dims = st.one_of(st.none(), st.dictionaries(st.sampled_from(["mode", "platform", "region", "Mode"]), texts, max_size=3))
HOSTILE = [("at", -1), ("at", 2**48), ("at", 1.5), ("at", NOW * 1.0), ("at", "1"), ("item", ""), ("item", "123456789"),
           ("event_id", "1234567"), ("weight", 0), ("weight", 1_000_001), ("weight", 2.0), ("weight", None),
           ("dims", {"mode": 3}), ("dims", []), ("stream", 7), ("extra", 1)]


@st.composite
def raw_events(draw: st.DrawFn) -> Any:
    event: dict[str, Any] = {"stream": draw(st.sampled_from(["a", "b", "c"])), "item": draw(texts),
                             "at": draw(ats), "event_id": draw(texts)}
    if draw(st.booleans()):
        event["weight"] = draw(st.integers(1, 3) | st.just(1_000_000))
    if draw(st.booleans()):
        event["dims"] = draw(dims)
    if draw(st.integers(0, 40)) == 0:
        name, value = draw(st.sampled_from(HOSTILE))
        event[name] = value
    if draw(st.integers(0, 40)) == 0:
        del event[draw(st.sampled_from(["stream", "item", "at", "event_id"]))]
    return event


def _oracle(raw: list[Any]) -> tuple[dict[int, dict[str, object]], dict[str, list[tuple[int, TrendEvent]]]]:
    rejected: dict[int, dict[str, object]] = {}
    accepted: dict[str, list[tuple[int, TrendEvent]]] = {}
    for i, entry in enumerate(raw):
        checked = validate_event(i, entry, STREAMS, LIMITS, NOW)
        if isinstance(checked, TrendEvent):
            accepted.setdefault(checked.stream, []).append((i, checked))
        else:
            rejected[i] = checked.to_dict()
    return rejected, accepted


def _rows(cols: EventColumns) -> list[tuple[Any, ...]]:
    return [(cols.ids[j], cols.items[j], cols.ats[j], cols.weights[j], cols.dim_tuples[cols.dims[j]])
            for j in range(len(cols))]


@settings(max_examples=400, deadline=None)
@given(st.lists(raw_events(), min_size=1, max_size=12))
def test_typed_path_accepts_and_rejects_exactly_like_the_validator(raw: list[Any]) -> None:
    body = orjson.dumps({"events": raw})
    typed = decode_typed(body, LIMITS)
    if typed is None:     # refused by msgspec: the plain path (the validator itself) answers
        return
    decoded = check_typed(typed, STREAMS, LIMITS, NOW)
    rejected, accepted = _oracle(raw)
    assert {i: r.to_dict() for i, r in decoded.rejected.items()} == rejected
    assert decoded.columns.keys() == accepted.keys()
    for stream, (indices, cols) in decoded.columns.items():
        want = accepted[stream]
        assert indices == [i for i, _ in want]
        assert _rows(cols) == [(e.event_id, e.item, e.at_ms, e.weight, e.dims) for _, e in want]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["dust2", "nuke", "mirage"]), st.integers(0, 3 * 3_600_000),
                          st.integers(1, 3), st.sampled_from([(), (("mode", "r"),), (("mode", "c"),)])),
                min_size=1, max_size=40))
def test_typed_batches_are_the_common_case(rows: list[tuple[str, int, int, tuple[tuple[str, str], ...]]]) -> None:
    """Valid batches never leave the typed path, and plan the same cells as their TrendEvents."""
    raw = [{"stream": "b", "item": item, "at": NOW - at, "event_id": f"e{i}", "weight": w,
            "dims": dict(d) or None} for i, (item, at, w, d) in enumerate(rows)]
    spec = StreamSpec("b", dimensions=("mode",), lateness_ms=3 * 3_600_000 + 1)
    typed = decode_typed(orjson.dumps({"events": raw}), LIMITS)
    assert typed is not None
    decoded = check_typed(typed, {"b": spec}, LIMITS, NOW)
    assert not decoded.rejected
    cols = decoded.columns["b"][1]
    events = [TrendEvent("b", item, NOW - at, w, f"e{i}", d) for i, (item, at, w, d) in enumerate(rows)]
    want = EventColumns.of_events(events)
    got_cells = [(c.resolution, c.start_ms, c.series, list(c.counts.items()), c.total)
                 for c in cells(spec, cols, levels(spec, cols))]
    want_cells = [(c.resolution, c.start_ms, c.series, list(c.counts.items()), c.total)
                  for c in cells(spec, want, levels(spec, want))]
    assert got_cells == want_cells
