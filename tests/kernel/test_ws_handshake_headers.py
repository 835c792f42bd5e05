"""The handshake headers read for Strawberry's websocket origin check (podium.gql.ws_handlers) answer
exactly what Starlette's `Headers` answers, for any raw ASGI header list and any name asked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from podium.gql.ws_handlers import HandshakeHeaders

NAMES = st.sampled_from(["origin", "host", "sec-fetch-site", "x-a", "Origin", "HOST"])
RAW = st.lists(st.tuples(NAMES.map(lambda n: n.lower().encode()), st.binary(max_size=8)), max_size=6)


@given(RAW, NAMES)
def test_get_and_index_answer_as_starlette(raw: list[tuple[bytes, bytes]], name: str) -> None:
    ours, theirs = HandshakeHeaders(raw), Headers(raw=raw)
    assert ours.get(name) == theirs.get(name)
    assert ours.get(name, "d") == theirs.get(name, "d")
    assert (name in ours) == (name.lower() in theirs)
    assert sorted(ours) == sorted(set(theirs.keys())) and len(ours) == len(set(theirs.keys()))
