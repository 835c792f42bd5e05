"""The contest routes a region serves (see `http`)."""

from __future__ import annotations

from podium.region.contests import http
from starlette.routing import Route


def contest_routes() -> list[Route]:
    return [
        Route("/v1/admin/contests/matches", http.declare_match, methods=["POST"]),
        Route("/v1/admin/contests", http.create_contest, methods=["POST"]),
        Route("/v1/admin/contests/{contest}/{action}", http.contest_action, methods=["POST"]),
        Route("/v1/contests/feed", http.feed, methods=["POST"]),
        Route("/v1/contests/{contest}/standings", http.standings, methods=["GET"]),
        Route("/v1/contests/{contest}/entries", http.join, methods=["POST"]),
        Route("/v1/contests/{contest}/settlement", http.settlement, methods=["GET"]),
    ]
