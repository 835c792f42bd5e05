"""`Routes` (the delivery worker's index of endpoints by board) against the oracle: asking every
endpoint `wants(kind, board)`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.notify_webhooks import Endpoint, Routes

NAMES = st.sampled_from(["a", "b", "c", "d"])
KINDS = st.sampled_from(["overtaken", "threshold", "board_ended"])
ENDPOINTS = st.lists(st.tuples(st.lists(KINDS, max_size=3), st.lists(NAMES, max_size=3)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(ENDPOINTS, st.lists(st.tuples(KINDS, NAMES), min_size=1, max_size=20), st.integers(1, 4))
def test_routes_match_every_endpoints_own_answer(
    raw: list[tuple[list[str], list[str]]], events: list[tuple[str, str]], memo_max: int
) -> None:
    endpoints = [
        Endpoint(f"e{i}", "http://h/x", "s" * 16, tuple(kinds), tuple(boards))
        for i, (kinds, boards) in enumerate(raw)
    ]
    routes = Routes(endpoints, memo_max=memo_max)
    for kind, board in events + events:  # the second pass is answered from the (bounded) memo
        assert routes(kind, board) == tuple(sorted(e.id for e in endpoints if e.wants(kind, board)))
