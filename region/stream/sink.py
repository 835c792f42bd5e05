"""The ScoreSink port: where validated entries go. `DirectSink` applies them to the rank store at
once (the embedded default); `KafkaSink` (`stream_sink_kafka`) produces them to the event log, and
the stream worker applies them with the same `apply_entries`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from podium.region.ingest import apply_entries
from podium.region.rank_store import RankStore

from podium.model import Board, EntryResult, ScoreEntry


class ScoreSink(Protocol):
    async def put(
        self, boards: dict[str, Board], entries: Sequence[tuple[int, ScoreEntry]], now_ms: int, *, wait: bool = False
    ) -> dict[int, EntryResult]:
        """A result per entry index; `wait` asks for the resulting rank when the sink is asynchronous."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class DirectSink:
    """Applies each batch to Redis in the request (one Lua call per board): results are final."""

    def __init__(self, store: RankStore, region: str) -> None:
        self.store = store
        self.region = region

    async def put(
        self, boards: dict[str, Board], entries: Sequence[tuple[int, ScoreEntry]], now_ms: int, *, wait: bool = False
    ) -> dict[int, EntryResult]:
        return await apply_entries(self.store, boards, entries, now_ms, region=self.region) or {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


_: type[ScoreSink] = DirectSink
