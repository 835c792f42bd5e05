"""The SQLite warm store translates its failures into `Unavailable` for every public method (found
by introspection): a store that is not open (closed, or never opened) and a corrupt database file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import ScoreRow, Snapshot

from podium.errors import Unavailable
from podium.model import Board
from podium.store_errors import public_async_methods

pytestmark = pytest.mark.anyio


async def _drain(it: Any) -> None:
    async for _ in it:
        pass


CALLS: dict[str, Callable[[SqliteHistoryStore], Awaitable[Any]]] = {
    "append_scores": lambda s: s.append_scores([ScoreRow("b@0", "p", "e", 1, 1)]),
    "score_history": lambda s: s.score_history("b@0", "p", 10),
    "has_scores": lambda s: s.has_scores("b@0"),
    "iter_player_history": lambda s: _drain(s.iter_player_history("b@0")),
    "iter_history_pages": lambda s: _drain(s.iter_history_pages("b@0")),
    "write_snapshot": lambda s: s.write_snapshot(Snapshot("b", 0, 1, ())),
    "snapshot_times": lambda s: s.snapshot_times("b", 10),
    "snapshots": lambda s: s.snapshots("b", 10),
    "snapshot_page": lambda s: s.snapshot_page("b", 1, 1, 10),
    "read_snapshot": lambda s: s.read_snapshot("b", 1),
    "rank_history": lambda s: s.rank_history("b", "p", 10),
    "save_board": lambda s: s.save_board(Board("b")),
    "drop_board": lambda s: s.drop_board("b"),
    "boards": lambda s: s.boards(),
}
LIFECYCLE = {"open", "close"}


def test_every_public_method_is_called() -> None:
    assert sorted([*CALLS, *LIFECYCLE]) == public_async_methods(SqliteHistoryStore)


async def test_closed_store_answers_unavailable(tmp_path: Path) -> None:
    store = SqliteHistoryStore(tmp_path / "h.sqlite3")
    await store.open()
    await store.close()
    for call in CALLS.values():
        with pytest.raises(Unavailable, match="not open"):
            await call(store)


async def test_corrupt_file_answers_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"not a database" * 1000)
    store = SqliteHistoryStore(path)
    with pytest.raises(Unavailable) as caught:
        await store.open()
    assert "not a database" in caught.value.message and caught.value.__cause__ is not None
