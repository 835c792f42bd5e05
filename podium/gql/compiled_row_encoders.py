"""A compiled plan's encoder for a page of ranked rows: the selected fields of each row, straight
from the store's `RankedEntry` into the dicts orjson writes, with no GraphQL object per row.

`podium.gql.types` says what each field of a `RankedEntry` object holds (`ENTRY_ROW_ATTRIBUTES`,
an attribute of the row; `ENTRY_PAGE_VALUES`, from the page's time alone) and an edge is its
cursor and that entry. A field is completed by the very completer the plan would use on the
object (leaf checks, serialize, non-null), so the output is the same; the completer is skipped
only where it would return the value unchanged (an `int` within 32 bits for `Int`, a `str`, a
`bool`, an `int` for `Long`: the check the completer itself makes first). Values that depend only
on the page's time (`asOf`, `precision`, `errorBound`, `__typename`) are completed once per page,
and only when the page has a row (an empty page completes nothing, as before).

The row function is generated once per compiled plan (a dict display of attribute reads: a page of
100 rows is then 100 calls, not 100 × fields completer calls and loops). Every name in the
generated source is a GraphQL response key (`[_A-Za-z][_0-9A-Za-z]*`, written with `repr`), an
attribute name from the table above, or a local of this module. A selection holding anything else
(a field with a resolver, a field not in the tables) gets no encoder: the plan completes objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podium.gql.compiled_leaves import INT32_MAX, INT32_MIN
from podium.gql.compiled_rows import EDGE, ENTRY
from podium.gql.types import ENTRY_PAGE_VALUES, ENTRY_ROW_ATTRIBUTES, encode_cursor
from podium.model import RankedEntry

Complete = Callable[[Any, Any], Any]
RowsEncoder = Callable[[list[RankedEntry], int, Any], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class RowField:
    """One selected field of a row type: its response key, Python name ("" for __typename),
    completer, the leaf's pass-through type (`leaf_exact`; None: always complete), and an edge's
    node selection."""

    key: str
    python_name: str
    complete: Complete
    exact: tuple[type, bool] | None = None
    node: tuple[RowField, ...] | None = None


class _Source:
    """What the generated row function is built from: the page values to complete per page and
    the dict display's source, with the completers it calls."""

    def __init__(self) -> None:
        self.page: list[tuple[Callable[[int], Any], Complete]] = []
        self.completers: list[Complete] = []
        self.types: list[type] = []

    def entry(self, fields: tuple[RowField, ...]) -> str | None:
        items: list[str] = []
        for field in fields:
            value = self.value(field)
            if value is None:
                return None
            items.append(f"{field.key!r}: {value}")
        return "{" + ", ".join(items) + "}"

    def value(self, field: RowField) -> str | None:
        if not field.python_name:   # __typename: its completer ignores the value
            return self.page_value(lambda now_ms: None, field.complete)
        if field.python_name in ENTRY_PAGE_VALUES:
            return self.page_value(ENTRY_PAGE_VALUES[field.python_name], field.complete)
        attribute = ENTRY_ROW_ATTRIBUTES.get(field.python_name)
        if attribute is None:
            return None
        return self.leaf(f"e.{attribute}", field)

    def page_value(self, of_page: Callable[[int], Any], complete: Complete) -> str:
        self.page.append((of_page, complete))
        return f"K[{len(self.page) - 1}]"

    def leaf(self, expression: str, field: RowField) -> str:
        self.completers.append(field.complete)
        call = f"C[{len(self.completers) - 1}]({expression}, info)"
        if field.exact is None:
            return call
        exact, int32 = field.exact
        self.types.append(exact)
        kind = f"T[{len(self.types) - 1}]"
        # evaluated once per use: the attribute read is cheap, a local would need a statement
        check = f"type({expression}) is {kind}" + (
            f" and {INT32_MIN} <= {expression} <= {INT32_MAX}" if int32 else "")
        return f"({expression} if {check} else {call})"

    def edge(self, fields: tuple[RowField, ...]) -> str | None:
        items: list[str] = []
        for field in fields:
            value: str | None
            if not field.python_name or field.python_name == "cursor":
                value = (self.page_value(lambda now_ms: None, field.complete) if not field.python_name
                         else self.leaf("cursor(e)", field))
            elif field.python_name == "node" and field.node is not None:
                value = self.entry(field.node)
            else:
                value = None
            if value is None:
                return None
            items.append(f"{field.key!r}: {value}")
        return "{" + ", ".join(items) + "}"


def rows_encoder(kind: str, fields: tuple[RowField, ...]) -> RowsEncoder | None:
    """The encoder of a list of `kind` (ENTRY or EDGE) items selecting `fields`, or None."""
    source = _Source()
    display = source.entry(fields) if kind == ENTRY else source.edge(fields) if kind == EDGE else None
    if display is None:
        return None
    namespace: dict[str, Any] = {"C": tuple(source.completers), "T": tuple(source.types), "cursor": encode_cursor}
    exec(f"def encode(rows, K, info):\n    return [{display} for e in rows]\n", namespace)  # noqa: S102 - see the docstring
    encode_rows: Callable[[list[RankedEntry], tuple[Any, ...], Any], list[dict[str, Any]]] = namespace["encode"]
    page = tuple(source.page)

    def encode(rows: list[RankedEntry], now_ms: int, info: Any) -> list[dict[str, Any]]:
        if not rows:
            return []
        return encode_rows(rows, tuple(complete(of_page(now_ms), info) for of_page, complete in page), info)
    return encode
