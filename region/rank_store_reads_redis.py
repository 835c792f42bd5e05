"""The Redis rank store's reads: ranges, keyset pages, players, neighbourhoods, counts, versions
(one command or one read script each). Part of `RedisRankStore` (region/rank_store_redis.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from podium.region.rank_members import MemberCache
from podium.region.rank_store_shared import RedisScriptsBase
from podium.region.rank_store_shared import text as _text
from redis.exceptions import NoScriptError

from podium.keys import keys_of
from podium.model import Board, RankCursor, RankedEntry
from podium.ranking import (
    TS_KEY_WIDTH,
    decode_member,
    decode_scored,
    encode_member,
    from_zscore,
    to_zscore,
    ts_from_key,
)
from podium.redis_client import scored_members, stream_entries
from podium.store_errors import translate_store_errors


@translate_store_errors("the rank store (Redis)")
class RedisRankReads(RedisScriptsBase):
    @staticmethod
    def _rows(board: Board, flat: Sequence[Any], first_rank: int) -> list[RankedEntry]:
        return [RankedEntry(rank, player, score, ts)
                for rank, (player, score, ts) in enumerate(decode_scored(flat, board.order), first_rank)]

    async def _read(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """A read script's reply over the client's lean connection (podium/redis_lean.py) when it has
        one with room; else, or when Redis does not hold the script yet, as `_call` (which loads it)."""
        lean = self._lean
        if lean is not None and lean.ready():
            try:
                return await lean.call("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                pass
        return await self._call(script, keys, args)

    async def range(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        if count <= 0 or start < 0:
            return []
        lean = self._lean
        if lean is not None and lean.ready():   # the flat reply, decoded as `_rows` does (floats from the same bytes)
            flat = await lean.call("ZRANGE", keys_of(board).zset, start, start + count - 1, "WITHSCORES")
            return self._rows(board, flat, start + 1)
        raw = scored_members(await self.redis.zrange(keys_of(board).zset, start, start + count - 1, withscores=True))
        return [
            RankedEntry(start + j + 1, *_player_ts(member, board, score))
            for j, (member, score) in enumerate(raw)
        ]

    async def after(self, board: Board, cursor: RankCursor, count: int) -> list[RankedEntry]:
        if count <= 0:
            return []
        zscore = to_zscore(cursor.score, board.order)
        member = encode_member(cursor.achieved_at_ms, cursor.player)
        raw = await self._call(self._after, [keys_of(board).zset], [zscore, member, count])
        return self._rows(board, raw[1:], int(raw[0]))

    async def players(self, board: Board, players: Sequence[str]) -> list[RankedEntry | None]:
        if not players:
            return []
        k = keys_of(board)
        cache = self._members
        if cache is not None:
            members = cache.members(k.zset, players)
            if members is not None:
                rows = await self._known_players(board, k.zset, players, members, cache)
                if rows is not None:
                    return rows
        raw = await self._read(self._read_players, [k.zset, k.index], list(players))
        out: list[RankedEntry | None] = []
        order = board.order
        for player, rank, zs, key in zip(players, raw[0::3], raw[1::3], raw[2::3], strict=True):
            if not rank:
                out.append(None)
                continue
            time_key = _text(key)
            out.append(RankedEntry(rank, player, from_zscore(float(zs), order), ts_from_key(time_key)))
            if cache is not None:
                cache.put(k.zset, player, time_key + player)
        return out

    async def _known_players(self, board: Board, zset: str, players: Sequence[str], members: list[str],
                             cache: MemberCache) -> list[RankedEntry | None] | None:
        """The players' rows read by their known members (region/rank_members.py): ZSCORE and ZRANK
        of each in one MULTI, so score and rank are of one moment; None when a member is gone
        (dropped from the cache: the caller reads through the script, which names the new one)."""
        commands: list[tuple[Any, ...]] = []
        for member in members:
            commands.append(("ZSCORE", zset, member))
            commands.append(("ZRANK", zset, member))
        lean = self._lean
        if lean is not None and lean.ready():
            reply = await lean.transaction(commands)
        else:
            pipe = self.redis.pipeline(transaction=True)
            for command in commands:
                pipe.execute_command(*command)
            reply = await pipe.execute()
        out: list[RankedEntry | None] = []
        order = board.order
        for player, member, zs, rank in zip(players, members, reply[0::2], reply[1::2], strict=True):
            if zs is None or rank is None:
                cache.stale += 1
                cache.drop(zset, player)
                return None
            out.append(RankedEntry(int(rank) + 1, player, from_zscore(float(zs), order), ts_from_key(member[:TS_KEY_WIDTH])))
        cache.hits += 1
        return out

    async def around(self, board: Board, player: str, above: int, below: int) -> list[RankedEntry]:
        k = keys_of(board)
        raw = await self._read(self._around, [k.zset, k.index], [player, max(0, above), max(0, below)])
        if not raw:
            return []
        return self._rows(board, raw[1:], int(raw[0]))

    async def count(self, board: Board) -> int:
        return int(await self.redis.zcard(keys_of(board).zset))

    async def version(self, board: Board) -> str:
        """The newest change-stream id of the board ("-": none): the board changed iff it moved."""
        last = stream_entries(await self.redis.xrevrange(keys_of(board).changes, count=1))
        return _text(last[0][0]) if last else "-"


def _player_ts(member: bytes | str, board: Board, zscore: float) -> tuple[str, int, int]:
    ts, player = decode_member(member)
    return player, from_zscore(zscore, board.order), ts
