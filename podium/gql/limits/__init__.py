"""The guards every tier's GraphQL schema runs: error codes, timing, depth, aliases, tokens, cost."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, QueryDepthLimiter

from podium.config import ApiLimits
from podium.gql.errors import ErrorCodes
from podium.gql.limits.cost import CostLimit
from podium.gql.limits.prepared import OperationCache, PreparedOperationsFactory
from podium.gql.limits.tokens import TokenLimit
from podium.gql.timing import OperationTiming


def guard_extensions(limits: ApiLimits) -> list[Any]:
    """Extension factories, so each request gets fresh instances. ErrorCodes comes first: it wraps
    the others and gives their refusals `extensions.code`. With the operation cache on, one
    extension does the token limit, parse and validation caching and the cost check (in the order
    the separate TokenLimit and CostLimit run them when it is off)."""
    extensions: list[Any] = [
        ErrorCodes,
        OperationTiming,
        lambda: QueryDepthLimiter(max_depth=limits.query_depth_max),
        lambda: MaxAliasesLimiter(max_alias_count=limits.aliases_max),
    ]
    if limits.operation_cache_entries_max > 0:
        # one cache per schema: its entries hold this schema's validation results
        cache = OperationCache(limits.operation_cache_entries_max, limits.operation_cache_document_bytes_max)
        extensions.append(PreparedOperationsFactory(cache, limits.query_tokens_max, limits.query_cost_max,
                                                    limits.page_size_max))
    else:
        extensions[2:2] = [lambda: TokenLimit(limits.query_tokens_max)]
        extensions.append(lambda: CostLimit(limits.query_cost_max, limits.page_size_max))
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    return extensions
