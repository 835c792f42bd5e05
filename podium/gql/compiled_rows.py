"""Rows of a page kept as the store read them, with their GraphQL objects built only if asked.

A leaderboard page used to become, per row, a cursor (base64 of a JSON array) and one or two
Strawberry objects before anything looked at the selection; a top-100 asking for `rank player
score` paid for 100 cursors it never sent. `EntryRows` holds the store's `RankedEntry` rows and the
page's time instead: a compiled plan (`podium.gql.compiled`) encodes the selected fields straight
from them, and anything else (graphql-core's execution, a test) that iterates it gets the very
objects the resolver used to build, built once, on first use."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from podium.model import RankedEntry

ENTRY = "RankedEntry"       # rows are RankedEntryType objects
EDGE = "LeaderboardEdge"    # rows are LeaderboardEdge objects (a cursor and a RankedEntryType node)


class EntryRows(Sequence[Any]):
    """A page's rows (`kind`: the GraphQL type name of each item) as `RankedEntry` and the time
    the page was read; `build(row, now_ms)` makes the item object the resolver would return."""

    __slots__ = ("_built", "build", "kind", "now_ms", "rows")

    def __init__(self, kind: str, rows: list[RankedEntry], now_ms: int,
                 build: Callable[[RankedEntry, int], Any]) -> None:
        self.kind = kind
        self.rows = rows
        self.now_ms = now_ms
        self.build = build
        self._built: list[Any] | None = None

    def objects(self) -> list[Any]:
        if self._built is None:
            now_ms, build = self.now_ms, self.build
            self._built = [build(row, now_ms) for row in self.rows]
        return self._built

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.objects())

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self.objects()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EntryRows):
            return self.objects() == other.objects()
        if isinstance(other, list):
            return self.objects() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]   # compared by content, like the list it stands for

    def __repr__(self) -> str:
        return f"EntryRows({self.kind}, {self.objects()!r})"
