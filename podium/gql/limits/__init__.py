"""The guards every tier's GraphQL schema runs: error codes, timing, depth, aliases, tokens, cost."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, QueryDepthLimiter

from podium.config import ApiLimits
from podium.gql.errors import ErrorCodes
from podium.gql.limits.cost import CostLimit
from podium.gql.limits.tokens import TokenLimit
from podium.gql.timing import OperationTiming


def guard_extensions(limits: ApiLimits) -> list[Any]:
    """Extension factories, so each request gets fresh instances. ErrorCodes comes first: it wraps
    the others and gives their refusals `extensions.code`."""
    extensions: list[Any] = [
        ErrorCodes,
        OperationTiming,
        lambda: TokenLimit(limits.query_tokens_max),
        lambda: QueryDepthLimiter(max_depth=limits.query_depth_max),
        lambda: MaxAliasesLimiter(max_alias_count=limits.aliases_max),
        lambda: CostLimit(limits.query_cost_max, limits.page_size_max),
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    return extensions
