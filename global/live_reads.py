"""Reads the global tier makes from the regions at query time: STRONG top-N merges the regions' live
top lists; SESSION reads a player's entry from the region named in their token when the global
state has not caught up yet. Bounded by a timeout; a region that does not answer is named."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import orjson

from podium.breaker import Breakers
from podium.errors import BadUserInput, Unavailable
from podium.model import Board

TOP_QUERY = ("query($b:String!,$n:Int!){ leaderboard(board:$b, first:$n)"
             "{ edges { node { player score achievedAt } } } }")
PLAYER_QUERY = "query($b:String!,$p:String!){ player(id:$p){ entry(board:$b){ score achievedAt } } }"


def decode_session(token: str) -> dict[str, int]:
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in doc.items()):
            raise ValueError
        return doc
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadUserInput("invalid session token") from exc


class RegionReader:
    def __init__(self, region_urls: dict[str, str], timeout_ms: int, breakers: Breakers | None = None) -> None:
        self.region_urls = region_urls
        self.timeout_s = timeout_ms / 1000
        # each region's breaker ("region:<name>"): a region that keeps failing is skipped at once
        self.breakers = breakers
        # no-cache: regions answer from Redis, not from their ~tick-old read and response caches,
        # so STRONG and SESSION reads see every write a region has acknowledged
        self.http = httpx.AsyncClient(timeout=self.timeout_s, headers={"cache-control": "no-cache"})

    async def _query(self, region: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if self.breakers is None:
            return await self._query_now(region, query, variables)
        return await self.breakers.call(f"region:{region}", lambda: self._query_now(region, query, variables),
                                        timeout_ms=int(self.timeout_s * 1000))

    async def _query_now(self, region: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        url = self.region_urls.get(region)
        if url is None:
            raise Unavailable(f"no URL configured for region {region!r} (global.region_urls)")
        try:
            response = await asyncio.wait_for(
                self.http.post(f"{url}/graphql", json={"query": query, "variables": variables}), self.timeout_s)
            doc = response.json()
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            raise Unavailable(f"region {region!r} did not answer within {int(self.timeout_s * 1000)} ms") from exc
        if doc.get("errors"):
            raise Unavailable(f"region {region!r} answered with an error: {doc['errors'][0].get('message')}")
        return doc["data"]  # type: ignore[no-any-return]

    async def live_tops(self, board: Board, first: int) -> tuple[dict[str, list[tuple[str, int, int]]], list[str]]:
        """Each region's live top `first` as (player, score, achieved_at); and the regions that failed."""
        regions = sorted(self.region_urls)
        answers = await asyncio.gather(
            *(self._query(r, TOP_QUERY, {"b": board.id, "n": first}) for r in regions), return_exceptions=True)
        tops, failed = {}, []
        for region, answer in zip(regions, answers, strict=True):
            if isinstance(answer, BaseException):
                failed.append(region)
                continue
            tops[region] = [(e["node"]["player"], e["node"]["score"], e["node"]["achievedAt"])
                            for e in answer["leaderboard"]["edges"]]
        return tops, failed

    async def player_entry(self, region: str, board: Board, player: str) -> tuple[int, int] | None:
        data = await self._query(region, PLAYER_QUERY, {"b": board.id, "p": player})
        entry = data["player"]["entry"]
        return None if entry is None else (entry["score"], entry["achievedAt"])

    async def aclose(self) -> None:
        await self.http.aclose()
