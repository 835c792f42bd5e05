"""The global tier's merged entries, stored in the global tier's own Redis.

Per (board, season):
    pg:{B}:<season>:st   hash   player -> {region: [score, achieved_at_ms, seq]}  (every region's latest
                                 state of the entry: the CRDT state, merged by `resolve`)
    pg:{B}:<season>:z    zset   the merged entries in rank order (same encoding as a region's board,
                                 podium.ranking), trimmed to `top_k * TOP_MARGIN`: ranks 1..K are EXACT.
Writes are serialized by one merger per board in the global process (a lock), so a
read-merge-write of a player's state is never interleaved; every merge is idempotent and
commutative, so replays and reordering from the shippers change nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from podium.model import Board, RankedEntry
from podium.ranking import decode_member, encode_member, from_zscore, to_zscore
from podium.redis_client import AnyRedis
from podium.replication.changes import Change
from podium.replication.regional_state import RegionalState, resolve, with_change

TOP_MARGIN = 2


def _prefix(board_id: str, season: int) -> str:
    return f"pg:{{{board_id}}}:{season}:"


@dataclass(frozen=True, slots=True)
class MergedEntry:
    player: str
    score: int
    achieved_at_ms: int
    versions: dict[str, int]          # the entry's version vector {region: seq}
    contributions: dict[str, int]     # each region's value


class GlobalStore:
    def __init__(self, redis: AnyRedis, top_k: int) -> None:
        self.redis = redis
        self.top_k = top_k
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def apply(self, board: Board, changes: Sequence[Change]) -> int:
        """Merge regional changes of one board; returns how many merged entries changed."""
        if not changes:
            return 0
        p = _prefix(board.id, board.season)
        async with self._locks[board.id]:
            players = sorted({c.player for c in changes})
            raw = await self.redis.hmget(p + "st", players)
            states: dict[str, RegionalState] = {
                pl: _decode(v) for pl, v in zip(players, raw, strict=True)
            }
            before = {pl: resolve(board.operator, board.order, st) for pl, st in states.items()}
            old_states = dict(states)
            for c in changes:
                states[c.player] = with_change(states[c.player], c.region, c.score, c.achieved_at_ms, c.seq)
            changed = 0
            async with self.redis.pipeline(transaction=False) as pipe:
                for pl, st in states.items():
                    if st != old_states[pl]:
                        # every region's contribution is kept, even one that does not win today:
                        # counters sum them, anti-entropy digests compare them
                        pipe.hset(p + "st", pl, _encode(st))
                    after = resolve(board.operator, board.order, st)
                    if after == before[pl]:
                        continue
                    changed += 1
                    if before[pl] is not None:
                        pipe.zrem(p + "z", encode_member(before[pl][1], pl))  # type: ignore[index]
                    if after is not None:
                        pipe.zadd(p + "z", {encode_member(after[1], pl): to_zscore(after[0], board.order)})
                pipe.zremrangebyrank(p + "z", self.top_k * TOP_MARGIN, -1)
                if changed:
                    pipe.incr(p + "ver")  # subscriptions watch this to know the board moved
                await pipe.execute()
            return changed

    async def top(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        if count <= 0 or start < 0:
            return []
        raw = await self.redis.zrange(_prefix(board.id, board.season) + "z", start, start + count - 1, withscores=True)
        out = []
        for j, (member, zs) in enumerate(raw):
            ts, player = decode_member(member)
            out.append(RankedEntry(start + j + 1, player, from_zscore(zs, board.order), ts))
        return out

    async def entry(self, board: Board, player: str) -> tuple[MergedEntry | None, int | None]:
        """The merged entry and its exact rank when it is inside the kept top (else None)."""
        p = _prefix(board.id, board.season)
        raw = await self.redis.hget(p + "st", player)
        state = _decode(raw)
        value = resolve(board.operator, board.order, state)
        if value is None:
            return None, None
        rank = await self.redis.zrank(p + "z", encode_member(value[1], player))
        merged = MergedEntry(player, value[0], value[1], {r: s[2] for r, s in state.items()},
                             {r: s[0] for r, s in state.items()})
        return merged, (rank + 1 if rank is not None else None)

    async def states(self, board: Board, players: Sequence[str]) -> dict[str, RegionalState]:
        if not players:
            return {}
        raw = await self.redis.hmget(_prefix(board.id, board.season) + "st", list(players))
        return {p: _decode(v) for p, v in zip(players, raw, strict=True)}

    async def rank_of(self, board: Board, player: str, score: int, achieved_at_ms: int) -> int | None:
        """The exact rank a (player, score, time) would have among the kept top, or None past it.
        The player's own stored entry is not counted against them."""
        key = _prefix(board.id, board.season) + "z"
        zs = to_zscore(score, board.order)
        member = encode_member(achieved_at_ms, player).encode()
        ahead = int(await self.redis.zcount(key, "-inf", f"({zs}"))
        ties = await self.redis.zrangebyscore(key, zs, zs)
        ahead += sum(1 for m in ties if m < member)
        own, _ = await self.entry(board, player)
        if own is not None:
            own_key = (to_zscore(own.score, board.order), encode_member(own.achieved_at_ms, player).encode())
            if own_key < (zs, member) and (own_key[0] < zs or own_key[1] in ties):
                ahead -= 1
        return ahead + 1 if ahead < self.top_k else None

    async def version(self, board: Board) -> str:
        raw = await self.redis.get(_prefix(board.id, board.season) + "ver")
        return f"{board.season}:{raw.decode() if raw else 0}"

    async def count(self, board: Board) -> int:
        return int(await self.redis.hlen(_prefix(board.id, board.season) + "st"))

    async def all_states(self, board: Board, batch: int = 1000) -> dict[str, RegionalState]:
        """Every player's state (anti-entropy digests, refills). Bounded reads via HSCAN."""
        out: dict[str, RegionalState] = {}
        async for player, raw in self.redis.hscan_iter(_prefix(board.id, board.season) + "st", count=batch):
            out[player.decode()] = _decode(raw)
        return out


def _encode(state: RegionalState) -> bytes:
    return orjson.dumps({r: list(v) for r, v in state.items()})


def _decode(raw: bytes | None) -> RegionalState:
    if raw is None:
        return {}
    return {r: (v[0], v[1], v[2]) for r, v in orjson.loads(raw).items()}
