"""Routes of the web pages, shared by the regions and the global tier."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from podium.web.pages import SECURITY_HEADERS, Tier, page_response


class PackageStatic(StaticFiles):
    """The package's static folder, with the pages' security headers on every file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["cache-control"] = "public, max-age=300"
        return response


def web_routes(tier: Tier) -> list[BaseRoute]:
    """`/` the live page, `/console` the admin console, `/graphiql` GraphiQL, `/static/*` their assets."""

    async def live(request: Request) -> Response:
        return page_response("live", tier)

    async def console(request: Request) -> Response:
        return page_response("console", tier)

    async def graphiql(request: Request) -> Response:
        return page_response("graphiql", tier)

    return [
        Route("/", live, methods=["GET"]),
        Route("/console", console, methods=["GET"]),
        Route("/graphiql", graphiql, methods=["GET"]),
        Mount("/static", app=PackageStatic(packages=[("podium.web", "static")]), name="static"),
    ]
