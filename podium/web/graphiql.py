"""GraphiQL from the package instead of Strawberry's CDN page: mixed into the GraphQL views so a
browser opening /graphql gets the self-hosted GraphiQL."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from podium.web.pages import Tier, page_response


class LocalGraphiQL:
    web_tier: Tier = "region"

    async def render_graphql_ide(self, request: Request) -> Response:
        return page_response("graphiql", self.web_tier)
