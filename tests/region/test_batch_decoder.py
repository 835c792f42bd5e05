"""The C decoding path (`batch_decoder`) against the per-entry Python validator it replaces: for any
body, the same batch error, or the same valid entries (same values and types) and the same
per-entry rejections (status and reason)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.batch_decoder import check_entries, decode_body
from podium.region.ingest import validate_batch
from podium.region.validation import FALLBACK_NESTING_MAX, nesting, parse_batch

from podium.config import IngestLimits
from podium.errors import PodiumError
from podium.model import Board
from tests.robustness.strategies import Deep, encode, integers, json_values, texts

NOW_MS = 1_700_000_000_000
LIMITS = IngestLimits(batch_entries_max=40, body_bytes_max=200_000)
BOARDS = {"b": Board("b"), "bounded": Board("bounded", score_min=0, score_max=100), "x.y-z": Board("x.y-z")}
FIELDS = ("board", "player", "score", "achieved_at", "event_id")

good = {
    "board": st.sampled_from(["b", "bounded", "x.y-z"]),
    "player": st.from_regex(r"\A[A-Za-z0-9_.:@-]{1,64}\Z"),
    "score": st.integers(-(2**53), 2**53),
    "achieved_at": st.integers(0, NOW_MS + 400_000),
    "event_id": st.text(min_size=1, max_size=40),
}
hostile = {
    "board": st.one_of(texts, st.sampled_from(["nope", "B", "b ", ""])),
    "player": st.one_of(texts, st.sampled_from(["p" * 64, "p" * 65, "p\n", "é", "a b", "\ud800"])),
    "score": st.one_of(integers, st.sampled_from([5.0, -0.0, 1e300, 2.0**53, 2.0**53 + 2, 0.5, True, -101, 101])),
    "achieved_at": st.one_of(integers, st.sampled_from([5.0, 2**48, 2**48 - 1, NOW_MS + 300_000, NOW_MS + 300_001])),
    "event_id": st.one_of(texts, st.sampled_from(["é" * 64, "é" * 65, "x" * 128, "x" * 129, "😀" * 32, "😀" * 33])),
}


@st.composite
def entries(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["good", "good", "mixed", "mixed", "any"]))
    if kind == "any":
        return draw(json_values)
    entry: dict[str, Any] = {}
    for name in FIELDS:
        choice = draw(st.sampled_from(["good", "good", "good", "hostile", "hostile", "any", "missing"])) \
            if kind == "mixed" else "good"
        if choice == "missing":
            continue
        entry[name] = draw(good[name] if choice == "good" else hostile[name] if choice == "hostile" else json_values)
    if draw(st.integers(0, 9)) == 0:
        entry[draw(st.sampled_from(["extra", "achieved_at_ms", "Board"]))] = draw(json_values)
    if draw(st.booleans()):   # key order is free in JSON
        keys = draw(st.permutations(list(entry)))
        entry = {k: entry[k] for k in keys}
    return entry


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(entries(), min_size=0, max_size=8))
    doc: dict[str, Any] = {"entries": items}
    shape = draw(st.sampled_from(["plain"] * 6 + ["extra", "not-list", "not-object", "bom", "garbage", "surrogate-bytes"]))
    if shape == "extra":
        doc["meta"] = draw(json_values)
    elif shape == "not-list":
        doc["entries"] = draw(json_values)
    text = encode(doc) if shape != "not-object" else encode(items)
    if shape == "surrogate-bytes":   # invalid UTF-8: a raw surrogate written with surrogatepass
        return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    body = text.encode("utf-8", "surrogatepass")
    if shape == "bom":
        body = b"\xef\xbb\xbf" + body
    elif shape == "garbage":
        body = body + draw(st.sampled_from([b"x", b" ", b"\n", b"}", b"\x00"]))
    return body


def _entry(e: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((type(v).__name__, v) for v in (e.board, e.player, e.score, e.achieved_at_ms, e.event_id))


def old_path(body: bytes) -> Any:
    try:
        raw = parse_batch(body, LIMITS)
    except PodiumError as exc:
        return ("error", type(exc).__name__, str(exc))
    valid, rejected = validate_batch(raw, BOARDS, LIMITS, NOW_MS)
    return ("ok", len(raw), [(i, _entry(e)) for i, e in valid],
            {i: (r.status.value, r.reason) for i, r in rejected.items()})


def new_path(body: bytes) -> Any:
    try:
        decoded = decode_body(body, LIMITS)
    except PodiumError as exc:
        return ("error", type(exc).__name__, str(exc))
    checked = check_entries(decoded, BOARDS, LIMITS, NOW_MS)
    return ("ok", checked.size, [(i, _entry(e)) for i, e in checked.valid_pairs()],
            {i: (r.status.value, r.reason) for i, r in checked.rejected.items()})


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bodies())
def test_fast_path_equals_per_entry_validator(body: bytes) -> None:
    assert new_path(body) == old_path(body)


def _body(*items: Any) -> bytes:
    return encode({"entries": list(items)}).encode()


GOOD = {"board": "b", "player": "p1", "score": 5, "achieved_at": NOW_MS, "event_id": "e1"}


def test_a_clean_batch_takes_the_typed_path_without_per_entry_objects() -> None:
    decoded = decode_body(_body(*[{**GOOD, "event_id": f"e{i}"} for i in range(30)]), LIMITS)
    assert decoded.plain is None   # tier 1: every entry typed by msgspec
    checked = check_entries(decoded, BOARDS, LIMITS, NOW_MS)
    assert checked.all_valid is not None and len(checked.all_valid) == 30 and not checked.rejected


def test_only_the_bad_entries_leave_the_typed_path() -> None:
    body = _body(GOOD, {**GOOD, "score": 5.0}, {**GOOD, "player": "p\n"}, {**GOOD, "board": "nope"},
                 {**GOOD, "event_id": "é" * 65}, {**GOOD, "score": 10**30})
    decoded = decode_body(body, LIMITS)
    assert decoded.plain is not None and sorted(decoded.plain) == [1, 5]   # the typed decoder refused these
    checked = check_entries(decoded, BOARDS, LIMITS, NOW_MS)
    assert checked.all_valid is None and sorted(checked.rejected) == [2, 3, 4, 5]   # 2-4 found by the batch scans
    assert new_path(body) == old_path(body)
    status = new_path(body)
    assert [i for i, _ in status[2]] == [0, 1]   # 5.0 is the integer 5
    assert status[3] == {
        2: ("rejected", "player id must be 1-64 characters of A-Z a-z 0-9 _ . : @ -"),
        3: ("rejected", "unknown board 'nope'"),
        4: ("rejected", "event_id must be a string of 1-128 UTF-8 bytes"),
        5: ("rejected", "score must be within ±2^53"),
    }


def test_duplicate_keys_lone_surrogates_and_deep_nesting_agree() -> None:
    dup = b'{"entries":[{"board":"nope","board":"b","player":"p","score":1,"achieved_at":1,"event_id":"e","score":2}]}'
    surrogate = _body({**GOOD, "event_id": "\ud800"}, GOOD)
    deep = ('{"entries":[' + json.dumps(GOOD) + "," + encode(Deep(3000)) + "]}").encode()
    for body in (dup, surrogate, deep, b'{"entries":[]}', b'{"entries":[],"entries":[1]}', b"[]", b"null"):
        assert new_path(body) == old_path(body), body[:80]
    assert new_path(dup)[2][0][1][2] == ("int", 2)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_nesting_counts_brackets_outside_strings(value: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, Deep):
            return v.depth
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        if isinstance(v, list | tuple):
            return 1 + max((depth(x) for x in v), default=0)
        return 0

    assert nesting(encode(value).encode("utf-8", "surrogatepass")) == depth(value)
    assert nesting(encode({"k": '[[{"\\', "v": [value]}).encode("utf-8", "surrogatepass")) == depth(value) + 2


def test_a_deep_body_the_fallback_parses_gets_one_answer_whatever_the_callers_stack() -> None:
    """The stdlib fallback recursed: near the limit a body parsed from a shallow stack and not from a
    deeper one (both paths of the batch decoder disagreed). Now the nesting bound decides."""
    lone = '"\\ud800"'   # an escaped lone surrogate: orjson refuses it, the stdlib parser takes it
    for depth in (FALLBACK_NESTING_MAX - 2, FALLBACK_NESTING_MAX - 1, 900, 1000):
        body = ('{"entries":[' + "[" * depth + "]" * depth + ',{"player":' + lone + "}]}").encode()

        def at_depth(frames: int, body: bytes = body) -> Any:
            return old_path(body) if frames == 0 else at_depth(frames - 1)

        answers = {repr(at_depth(frames)) for frames in (0, 200, 400)} | {repr(new_path(body))}
        assert len(answers) == 1, answers
        assert ("error" in next(iter(answers))) == (depth + 2 > FALLBACK_NESTING_MAX)
