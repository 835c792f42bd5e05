"""Prepared operations: the compiled cost equals the per-request estimate for any variables, the
cache is bounded, and a cached document sent with other variables is cost-checked again."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.api.schema import build_schema

from graphql import parse
from podium.config import ApiLimits
from podium.gql.limits.cost import compile_cost, operation_cost
from podium.gql.limits.prepared import OperationCache, PreparedOperations

PAGE_MAX = 50
VARIABLES = ("a", "b", "c")

size = st.one_of(st.sampled_from([f"${v}" for v in VARIABLES]), st.integers(-3, 80).map(str))
leaf = st.just("rank")


@st.composite
def fields(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(["leaderboard", "around", "players", "me", "page", "topChanged"]))
    args = draw(st.sampled_from(["", "(first: {})", "(n: {})", "(above: {}, below: {})", "(fromRank: {}, toRank: {})",
                                 "(ids: [\"x\", \"y\"])", "(ids: $c)", "(above: {})", "(toRank: {})",
                                 # variables in arguments that do not size the field (folded to constants)
                                 "(id: $a)", "(board: $b, first: {})", "(board: $a, above: {}, id: $c)"]))
    args = args.format(*(draw(size) for _ in range(args.count("{}"))))
    inner = draw(st.lists(fields(depth + 1) if depth < 2 else leaf, min_size=1, max_size=3)) if depth < 3 else ["rank"]
    spread = " ...F" if draw(st.booleans()) else ""
    return f"{name}{args} {{ {' '.join(inner)}{spread} }}"


@st.composite
def documents(draw: st.DrawFn) -> str:
    body = " ".join(draw(st.lists(fields(), min_size=1, max_size=3)))
    defaults = " ".join(f"${v}: Int" + (f" = {draw(st.integers(0, 60))}" if draw(st.booleans()) else "")
                        for v in VARIABLES)
    return f"query Q({defaults}) {{ {body} }} fragment F on Query {{ boards {{ id }} }}"


values = st.dictionaries(st.sampled_from([*VARIABLES, "undeclared"]),
                         st.one_of(st.none(), st.integers(-5, 100), st.booleans(), st.text(max_size=2),
                                   st.lists(st.integers(), max_size=3)))


@settings(max_examples=150, deadline=None)
@given(documents(), st.lists(values, min_size=1, max_size=4), st.sampled_from([None, "Q", "Other"]))
def test_compiled_cost_equals_the_estimate_for_any_variables(text: str, requests: list[dict[str, Any]],
                                                             name: str | None) -> None:
    document = parse(text)
    compiled = compile_cost(document, name, PAGE_MAX)   # once, then evaluated per request
    for variables in requests:
        assert compiled(variables) == operation_cost(document, name, variables, PAGE_MAX)


def _cache_of(schema: Any) -> OperationCache:
    for factory in schema.extensions:
        extension = factory() if callable(factory) and not isinstance(factory, type) else None
        if isinstance(extension, PreparedOperations):
            return extension.cache
    raise AssertionError("no PreparedOperations extension")


def test_cache_is_bounded_in_entries_and_document_size() -> None:
    limits = ApiLimits(operation_cache_entries_max=3, operation_cache_document_bytes_max=200)
    schema = build_schema(limits)
    cache = _cache_of(schema)

    async def run() -> None:
        for i in range(10):
            result = await schema.execute(f"query Q{i} {{ __typename }}")
            assert result.errors is None and result.data == {"__typename": "Query"}
            assert len(cache) == min(i + 1, 3)
        long = "query Long { __typename " + "# pad\n" * 60 + "}"
        assert (await schema.execute(long)).errors is None
        assert len(cache) == 3 and cache.key(long) not in cache.entries
        hits = cache.hits
        assert (await schema.execute("query Q9 { __typename }")).errors is None
        assert cache.hits == hits + 1

    asyncio.run(run())


def test_cached_document_with_other_variables_is_cost_checked() -> None:
    schema = build_schema(ApiLimits(query_cost_max=100, page_size_max=1000))
    cache = _cache_of(schema)
    query = "query($n: Int!) { leaderboard(board: \"x\", first: $n) { edges { node { rank } } } }"

    async def run() -> None:
        small = await schema.execute(query, variable_values={"n": 3}, context_value={})
        assert not any("query cost" in e.message for e in small.errors or [])
        hits = cache.hits
        large = await schema.execute(query, variable_values={"n": 500}, context_value={})
        assert cache.hits == hits + 1                   # served from the cache ...
        assert large.errors is not None and large.errors[0].message == "query cost 1001 exceeds the limit of 100"
        assert large.errors[0].extensions == {"code": "BAD_USER_INPUT"}   # ... and still refused

    asyncio.run(run())
