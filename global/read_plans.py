"""The global tier's hot reads as compiled plans (`podium.gql.compiled`, the kernel's machinery the
region uses too): a prepared query whose one root field is one of these resolvers is answered by a
plan, past graphql-core's per-field completion, and a page of merged rows is encoded straight from
the store's rows. Each resolver reads nothing of `info` but its context (service, request,
response), so the plan calls it exactly as Strawberry would; `Consistency` variables and literals
are coerced by the schema's own enum (an unknown name, like any error, keeps the general path). `api.graphql_compiled_plans` turns them off here too."""

from __future__ import annotations

from podium.config import Settings

GLOBAL_PLANNED_RESOLVERS = frozenset({"Query.leaderboard", "Query.around", "Query.player", "GlobalPlayer.entry"})


def planned_resolvers(settings: Settings) -> frozenset[str]:
    """The resolvers a plan may call on this global server (none with plans turned off)."""
    return GLOBAL_PLANNED_RESOLVERS if settings.api.graphql_compiled_plans else frozenset()
