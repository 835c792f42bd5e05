"""Commands packed in C (`CPackingConnection`, hiredis) are byte-for-byte redis-py's own packing,
and refused arguments are refused with redis-py's own error."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from podium.redis_client import CPackingConnection

any_char = st.characters(codec=None, categories=None)   # lone surrogates included
args = st.one_of(st.text(any_char, max_size=12), st.binary(max_size=12), st.integers(), st.floats(),
                 st.booleans(), st.none(), st.sampled_from(["CONFIG GET", "a b", "", "é"]))


def packed(connection: Connection, command: tuple[Any, ...]) -> bytes | str:
    try:
        return b"".join(connection.pack_command(*command))
    except Exception as exc:  # noqa: BLE001 - the error's type is what is compared
        return type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(st.lists(args, min_size=1, max_size=8))
def test_c_packing_equals_redis_py(command: list[Any]) -> None:
    mine, theirs = CPackingConnection(), Connection()
    assert packed(mine, tuple(command)) == packed(theirs, tuple(command))


def test_a_score_batch_call_is_packed_in_c() -> None:
    command = ("EVALSHA", "f" * 40, 2, "k1", "k2", *[x for i in range(1000) for x in (f"p{i}", i * 7, "0123", f"e{i}")])
    assert packed(CPackingConnection(), command) == packed(Connection(), command)
