"""The global tier's hot reads as compiled plans (`podium.gql.compiled`, the kernel's machinery the
region uses too): a prepared query whose root fields are these resolvers (or below them) is answered by a
plan, past graphql-core's per-field completion, and a page of merged rows is encoded straight from
the store's rows. Each resolver reads nothing of `info` but its context (service, request,
response), so the plan calls it exactly as Strawberry would; `Consistency` variables and literals
are coerced by the schema's own enum (an unknown name, like any error, keeps the general path).
Both documents of graphql/operations/global/ are planned: `GlobalLeaderboard` (two root fields,
`leaderboard` and `regions`, resolved in document order) and `GlobalPlayer` (`entry` and
`contributions`, each reading the merged entry as its Strawberry resolver does).
`api.graphql_compiled_plans` turns them off here too."""

from __future__ import annotations

from podium.config import Settings

GLOBAL_PLANNED_RESOLVERS = frozenset({"Query.leaderboard", "Query.around", "Query.player", "Query.regions",
                                      "GlobalPlayer.entry", "GlobalPlayer.contributions"})


def planned_resolvers(settings: Settings) -> frozenset[str]:
    """The resolvers a plan may call on this global server (none with plans turned off)."""
    return GLOBAL_PLANNED_RESOLVERS if settings.api.graphql_compiled_plans else frozenset()
