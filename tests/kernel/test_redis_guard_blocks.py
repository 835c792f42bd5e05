"""Which Redis calls the guard lets wait past its call timeout: blocking commands and XREAD[GROUP]
with BLOCK, never another command whose arguments happen to hold the word "block"."""

from __future__ import annotations

from podium.redis_guard import _blocks


def test_blocking_commands_and_xread_block_wait() -> None:
    assert _blocks(("BLPOP", "q", 5))
    assert _blocks((b"bzpopmin", "z", 1))
    assert _blocks(("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "BLOCK", 100, "STREAMS", "s", ">"))
    assert _blocks(("XREAD", "block", 0, "STREAMS", "s", "$"))


def test_other_commands_never_wait_whatever_their_arguments() -> None:
    assert not _blocks(())
    assert not _blocks(("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", "s", ">"))
    assert not _blocks(("EVALSHA", "0" * 40, 1, "pb:{b}:0:z", "block", 1, "BLOCK"))
    assert not _blocks(("SET", "block", "BLOCK"))
