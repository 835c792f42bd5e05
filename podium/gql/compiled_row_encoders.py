"""A compiled plan's encoder for a page of ranked rows: the selected fields of each row, straight
from the store's `RankedEntry` into the dicts orjson writes, with no GraphQL object per row.

`podium.gql.types` says what each field of a `RankedEntry` object holds (`ENTRY_ROW_VALUES`, from
the row; `ENTRY_PAGE_VALUES`, from the page's time alone) and an edge is its cursor and that entry.
A field is completed by the very completer the plan would use on the object (leaf checks,
serialize, non-null), so the output is the same; values that depend only on the page's time
(`asOf`, `precision`, `errorBound`, `__typename`) are completed once per page, and only when the page
has a row (an empty page completes nothing, as before). A selection holding anything else (a field
with a resolver, a field not in the tables) gets no encoder: the plan completes the objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podium.gql.compiled_rows import EDGE, ENTRY
from podium.gql.types import ENTRY_PAGE_VALUES, ENTRY_ROW_VALUES, encode_cursor
from podium.model import RankedEntry

Complete = Callable[[Any, Any], Any]
RowsEncoder = Callable[[list[RankedEntry], int, Any], list[dict[str, Any]]]
_RowFn = Callable[[RankedEntry], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RowField:
    """One selected field of a row type: its response key, Python name ("" for __typename) and
    completer; `node` holds an edge's node selection."""

    key: str
    python_name: str
    complete: Complete
    node: tuple[RowField, ...] | None = None


# A source per field: ("row", getter of the row), ("page", getter of the page's time), or
# ("node", the node's fields) — None when the field cannot be encoded from the row.
def _source(kind: str, field: RowField) -> tuple[str, Any] | None:
    if not field.python_name:
        return "page", lambda now_ms: None    # __typename: its completer ignores the value
    if kind == ENTRY:
        if field.python_name in ENTRY_ROW_VALUES:
            return "row", ENTRY_ROW_VALUES[field.python_name]
        if field.python_name in ENTRY_PAGE_VALUES:
            return "page", ENTRY_PAGE_VALUES[field.python_name]
        return None
    if field.python_name == "cursor":
        return "row", encode_cursor
    if field.python_name == "node" and field.node is not None:
        return "node", field.node
    return None


PagePrepare = Callable[[int, Any], _RowFn]


def _prepare(kind: str, fields: tuple[RowField, ...]) -> PagePrepare | None:
    """A function of (page time, info) giving the row function, or None (not encodable)."""
    plan: list[tuple[str, str, Any, Complete]] = []
    for field in fields:
        source = _source(kind, field)
        if source is None:
            return None
        where, what = source
        if where == "node":
            nested = _prepare(ENTRY, what)
            if nested is None:
                return None
            what = nested
        plan.append((field.key, where, what, field.complete))

    def prepare(now_ms: int, info: Any) -> _RowFn:
        items: list[tuple[str, Any, Any]] = []   # key, row getter or nested row fn or None, completer or value
        for key, where, what, complete in plan:
            if where == "page":
                items.append((key, None, complete(what(now_ms), info)))
            elif where == "node":
                items.append((key, what(now_ms, info), None))
            else:
                items.append((key, what, complete))

        def row(entry: RankedEntry) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, get, complete in items:
                if get is None:
                    out[key] = complete                   # the page's value, completed once
                elif complete is None:
                    out[key] = get(entry)                 # the edge's node
                else:
                    out[key] = complete(get(entry), info)
            return out
        return row
    return prepare


def rows_encoder(kind: str, fields: tuple[RowField, ...]) -> RowsEncoder | None:
    """The encoder of a list of `kind` (ENTRY or EDGE) items selecting `fields`, or None."""
    if kind not in (ENTRY, EDGE):
        return None
    prepare = _prepare(kind, fields)
    if prepare is None:
        return None

    def encode(rows: list[RankedEntry], now_ms: int, info: Any) -> list[dict[str, Any]]:
        if not rows:
            return []
        row = prepare(now_ms, info)
        return [row(entry) for entry in rows]
    return encode
