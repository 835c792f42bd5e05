"""Pages held as the store's rows (podium.gql.compiled_rows) and the compiled plans' row encoders
(podium.gql.compiled_row_encoders): the tables that say what each field of a ranked entry holds
agree with `RankedEntryType.from_entry` for every field; a lazy page iterates to exactly the
objects the resolvers used to build; and for generated selections (any subset of the fields, in
any order, aliased, with __typename) a plan encoding straight from the rows answers the same bytes
as graphql-core executing the same document on the objects, without building one."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st

from graphql import parse
from podium.gql.compiled import PlanCompiler
from podium.gql.compiled_rows import EntryRows
from podium.gql.scalars import schema_config
from podium.gql.types import (
    ENTRY_PAGE_VALUES,
    ENTRY_ROW_ATTRIBUTES,
    LeaderboardConnection,
    LeaderboardEdge,
    RankedEntryType,
    encode_cursor,
    entry_rows,
)
from podium.model import SCORE_ABS_MAX, RankedEntry

NOW_MS = 1_700_000_000_123
ENTRIES = st.builds(RankedEntry, rank=st.integers(1, 2**31 - 1), player=st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True),
                    score=st.integers(-SCORE_ABS_MAX, SCORE_ABS_MAX), achieved_at_ms=st.integers(0, 2**45))
PAGES = st.lists(ENTRIES, max_size=6)
HELD: list[EntryRows] = []   # the pages the resolvers below returned, to see whether objects were built


@strawberry.type
class Query:
    @strawberry.field
    async def top(self, n: int = 3) -> LeaderboardConnection:
        page = LeaderboardConnection.from_entries(ROWS[:n], 40, NOW_MS, n)
        HELD.append(page.edges)   # type: ignore[arg-type]
        return page

    @strawberry.field
    async def near(self) -> list[RankedEntryType]:
        rows = entry_rows(ROWS, NOW_MS)
        HELD.append(rows)
        return rows   # type: ignore[return-value]


ROWS: list[RankedEntry] = []
SCHEMA = strawberry.Schema(query=Query, config=schema_config())
COMPILER = PlanCompiler(SCHEMA, frozenset({"Query.top", "Query.near"}))
ENTRY_FIELDS = ["rank", "player", "score", "achievedAt", "precision", "errorBound", "asOf", "__typename"]


@settings(max_examples=100)
@given(row=ENTRIES, now_ms=st.integers(0, 2**44))
def test_the_tables_hold_what_from_entry_puts_in_every_field(row: RankedEntry, now_ms: int) -> None:
    built = RankedEntryType.from_entry(row, now_ms)
    names = {f.name for f in dataclasses.fields(built)}   # a new field must be added to a table
    assert names == ENTRY_ROW_ATTRIBUTES.keys() | ENTRY_PAGE_VALUES.keys()
    assert not ENTRY_ROW_ATTRIBUTES.keys() & ENTRY_PAGE_VALUES.keys()
    for name, attribute in ENTRY_ROW_ATTRIBUTES.items():
        assert getattr(row, attribute) == getattr(built, name), name
    for name, of_page in ENTRY_PAGE_VALUES.items():
        assert of_page(now_ms) == getattr(built, name), name


@given(rows=PAGES, total=st.integers(0, 50), requested=st.integers(1, 8))
def test_a_lazy_page_iterates_to_the_objects_it_stands_for(rows: list[RankedEntry], total: int, requested: int) -> None:
    page = LeaderboardConnection.from_entries(rows, total, NOW_MS, requested)
    eager = [LeaderboardEdge(cursor=encode_cursor(r), node=RankedEntryType.from_entry(r, NOW_MS)) for r in rows]
    assert list(page.edges) == eager and page.edges == eager and len(page.edges) == len(rows)
    assert page.page_info.end_cursor == (eager[-1].cursor if eager else None)
    assert entry_rows(rows, NOW_MS) == [RankedEntryType.from_entry(r, NOW_MS) for r in rows]
    if rows:
        assert page.edges[-1] == eager[-1] and page.edges[:1] == eager[:1]


def _pick(draw: st.DrawFn, fields: list[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(fields), min_size=1, unique=True))
    return " ".join(f"a{i}:{f}" if draw(st.booleans()) else f for i, f in enumerate(chosen))


@st.composite
def documents(draw: st.DrawFn) -> str:
    node = _pick(draw, ENTRY_FIELDS)
    if draw(st.booleans()):
        return f"{{near{{{node}}}}}"
    edge = _pick(draw, ["cursor", "__typename", f"node{{{node}}}"])
    outer = _pick(draw, ["totalCount", "asOf", "stale", "status", "pageInfo{hasNextPage endCursor}", f"edges{{{edge}}}"])
    n = draw(st.integers(0, 6))
    return f"{{top(n:{n}){{{outer}}}}}"


def _plan_answer(document: str) -> tuple[bytes, list[EntryRows]]:
    operation = parse(document).definitions[0]
    plan = COMPILER.compile(operation)   # type: ignore[arg-type]
    HELD.clear()
    data = asyncio.run(plan.execute(plan.coerce({}), {}, None))
    return orjson.dumps({"data": data}), list(HELD)


def _executed_answer(document: str) -> bytes:
    result = asyncio.run(SCHEMA.execute(document))
    assert result.errors is None, result.errors
    return orjson.dumps({"data": result.data})


@settings(max_examples=60, deadline=None)
@given(rows=PAGES, document=documents())
def test_a_plan_encodes_rows_as_graphql_core_completes_them(rows: list[RankedEntry], document: str) -> None:
    ROWS[:] = rows
    planned, held = _plan_answer(document)
    assert planned == _executed_answer(document), document
    assert held and all(page._built is None for page in held)   # no per-row object was built
