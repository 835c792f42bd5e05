"""The global tier's merged entries, stored in the global tier's own Redis.

Why every rank is exact. Regions ship every change of every entry (state, not deltas), so the
global tier holds each region's current value of each entry and resolves them per operator:
`best` = the best regional value, `latest` = the newest, counters = the sum of the regional totals.
For `best` the exact global top-K is also contained in the union of the regional top-K lists (a
player in the global top-K is in the top-K of the region holding their best value, since everyone
ahead of them there is ahead of them globally too): that is what STRONG reads merge live. For
`latest` it is not (a player's newest write may be a low score outside its region's top-K while an
older high one sits in another region's top-K: counter-example in tests/global_/test_topk.py),
nor for counters (a total spread over regions, each share outside every regional top-K). That is
why the global tier keeps every region's state of every entry and ranks the resolved values itself.
The sorted set holds *every* merged entry, never a trimmed top: a kept top-2K loses the players
ranked 2K+1.. for good, and once the players above them fall (a `latest` rewrite, a decrement, a
negative increment, a deletion) the exact tier would show the wrong players (issue 21). Memory is
O(players), which the state hash costs anyway; every rank is one ZRANK (O(log n)).

Per (board, season):
    pg:{B}:<season>:st   hash   player -> {region: [score, achieved_at_ms, seq]}  (every region's latest
                                 state of the entry: the CRDT state, merged by `resolve`)
    pg:{B}:<season>:z    zset   every merged entry in rank order (same encoding as a region's board,
                                 podium.ranking): the rank of any entry is exact over the merged state.
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
from podium.replication.changes import Change
from podium.replication.regional_state import TOMBSTONE_TS, RegionalState, live, resolve, winner, with_change
from redis.exceptions import RedisError

from podium.model import Board, Operator, RankedEntry
from podium.ranking import decode_member, encode_member, from_zscore, to_zscore
from podium.redis_client import AnyRedis, as_text, members, scored_members, stream_entries, stream_max_before
from podium.store_errors import translate_store_errors

CONFLICTS_LEN_MAX = 10_000   # conflict log entries kept per board


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two regions wrote the same `latest` entry concurrently (neither version vector dominates);
    the application rule (achievement time, then higher score, then region id) picked `winner`."""

    player: str
    winner: str
    loser: str
    winner_value: tuple[int, int]
    loser_value: tuple[int, int]


def _prefix(board_id: str, season: int) -> str:
    return f"pg:{{{board_id}}}:{season}:"


@dataclass(frozen=True, slots=True)
class MergedEntry:
    player: str
    score: int
    achieved_at_ms: int
    versions: dict[str, int]          # the entry's version vector {region: seq}
    contributions: dict[str, int]     # each region's value


@translate_store_errors("the global store (Redis)")
class GlobalStore:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def apply(self, board: Board, changes: Sequence[Change]) -> int:
        """Merge regional changes of one board; returns how many merged entries changed."""
        if not changes:
            return 0
        p = _prefix(board.id, board.season)
        async with self._locks[board.id]:
            players = sorted({c.player for c in changes})
            async with self.redis.pipeline(transaction=False) as read:
                read.hmget(p + "st", players)
                read.hgetall(p + "applied")
                raw, applied_raw = await read.execute()
            states: dict[str, RegionalState] = {
                pl: _decode(v) for pl, v in zip(players, raw, strict=True)
            }
            applied = {_text(k): int(v) for k, v in applied_raw.items()}
            old_states = dict(states)
            conflicts: list[Conflict] = []
            for c in changes:
                prior = states[c.player]
                ts = TOMBSTONE_TS if c.removed else c.achieved_at_ms
                states[c.player] = with_change(prior, c.region, c.score, ts, c.seq)
                if board.operator is Operator.LATEST and states[c.player] is not prior:
                    conflicts += _conflicts(board, c.player, prior, states[c.player], c.region)
            # One command per kind for the whole batch (not three per player): the merge costs a
            # few round-trip packets, whatever the batch size. Removals go before additions, so
            # an entry whose member is unchanged (same time, new score) is re-added.
            written: dict[str, bytes] = {}
            removed: list[str] = []
            added: dict[str, float] = {}
            changed = 0
            for pl, st in states.items():
                if st is old_states[pl]:
                    continue
                # every region's contribution is kept, even one that does not win today:
                # counters sum them, anti-entropy digests compare them
                written[pl] = _encode(st)
                previous = resolve(board.operator, board.order, old_states[pl])
                after = resolve(board.operator, board.order, st)
                if after == previous:
                    continue
                changed += 1
                if previous is not None:
                    removed.append(encode_member(previous[1], pl))
                if after is not None:
                    added[encode_member(after[1], pl)] = to_zscore(after[0], board.order)
            async with self.redis.pipeline(transaction=False) as pipe:
                if written:
                    pipe.hset(p + "st", mapping=written)  # type: ignore[arg-type]
                if removed:
                    pipe.zrem(p + "z", *removed)
                if added:
                    pipe.zadd(p + "z", added)
                newer = {r: seq for r, seq in _newest_per_region(changes).items() if seq > applied.get(r, 0)}
                if newer:
                    pipe.hset(p + "applied", mapping=newer)  # type: ignore[arg-type]
                if changed:
                    pipe.incr(p + "ver")  # subscriptions watch this to know the board moved
                for k in conflicts:
                    pipe.xadd(p + "conflicts", {"player": k.player, "winner": k.winner, "loser": k.loser,
                                                "winner_value": f"{k.winner_value[0]}@{k.winner_value[1]}",
                                                "loser_value": f"{k.loser_value[0]}@{k.loser_value[1]}"},
                              maxlen=CONFLICTS_LEN_MAX, approximate=True)
                if conflicts:
                    pipe.hincrby(CONFLICT_COUNTS_KEY, board.id, len(conflicts))
                await pipe.execute()
            return changed

    async def applied(self, board: Board) -> dict[str, int]:
        """The newest change id merged from each region (staleness: see `staleness.Feed`)."""
        raw = await self.redis.hgetall(_prefix(board.id, board.season) + "applied")
        return {_text(k): int(v) for k, v in raw.items()}

    async def top(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        if count <= 0 or start < 0:
            return []
        key = _prefix(board.id, board.season) + "z"
        raw = scored_members(await self.redis.zrange(key, start, start + count - 1, withscores=True))
        out = []
        for j, (member, zs) in enumerate(raw):
            ts, player = decode_member(member)
            out.append(RankedEntry(start + j + 1, player, from_zscore(zs, board.order), ts))
        return out

    async def entry(self, board: Board, player: str) -> tuple[MergedEntry | None, int | None]:
        """The merged entry and its exact rank over the merged state (None when there is no entry)."""
        p = _prefix(board.id, board.season)
        raw = await self.redis.hget(p + "st", player)
        state = _decode(raw)
        value = resolve(board.operator, board.order, state)
        if value is None:
            return None, None
        rank = await self.redis.zrank(p + "z", encode_member(value[1], player))
        held = live(state)
        merged = MergedEntry(player, value[0], value[1], {r: s[2] for r, s in held.items()},
                             {r: s[0] for r, s in held.items()})
        return merged, (rank + 1 if isinstance(rank, int) else None)

    async def states(self, board: Board, players: Sequence[str]) -> dict[str, RegionalState]:
        if not players:
            return {}
        raw = await self.redis.hmget(_prefix(board.id, board.season) + "st", list(players))
        return {p: _decode(v) for p, v in zip(players, raw, strict=True)}

    async def rank_of(self, board: Board, player: str, score: int, achieved_at_ms: int) -> int:
        """The exact rank a (player, score, time) would have in the merged state (SESSION reads: a
        value the global tier has not merged yet). The player's own stored entry is not counted."""
        key = _prefix(board.id, board.season) + "z"
        zs = to_zscore(score, board.order)
        member = encode_member(achieved_at_ms, player).encode()
        ahead = int(await self.redis.zcount(key, "-inf", f"({zs}"))
        ties = members(await self.redis.zrangebyscore(key, zs, zs))
        ahead += sum(1 for m in ties if m < member)
        own, _ = await self.entry(board, player)
        if own is not None:
            own_key = (to_zscore(own.score, board.order), encode_member(own.achieved_at_ms, player).encode())
            if own_key < (zs, member) and (own_key[0] < zs or own_key[1] in ties):
                ahead -= 1
        return ahead + 1

    async def conflicts(self, board: Board, count: int, before: str | None = None) -> list[dict[str, str]]:
        """Newest first; strictly older than the entry id `before` (a stream id, unique) when given."""
        end = stream_max_before(before)
        key = _prefix(board.id, board.season) + "conflicts"
        rows = stream_entries(await self.redis.xrevrange(key, max=end, count=count)) if end else []
        return [{"id": as_text(i), **{as_text(k): as_text(v) for k, v in f.items()}} for i, f in rows]

    async def conflict_counts(self) -> dict[str, int]:
        return {as_text(k): int(v) for k, v in (await self.redis.hgetall(CONFLICT_COUNTS_KEY)).items()}

    async def version(self, board: Board) -> str:
        raw = await self.redis.get(_prefix(board.id, board.season) + "ver")
        return f"{board.season}:{as_text(raw) if raw else 0}"

    async def count(self, board: Board) -> int:
        # the sorted set, not the state hash: a player every region removed keeps tombstones there
        return int(await self.redis.zcard(_prefix(board.id, board.season) + "z"))

    async def ping(self) -> bool:
        """Readiness probe: False when the global Redis does not answer (or its breaker is open),
        never a driver error."""
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def all_states(self, board: Board, batch: int = 1000) -> dict[str, RegionalState]:
        """Every player's state (anti-entropy digests, refills). Bounded reads via HSCAN."""
        out: dict[str, RegionalState] = {}
        async for player, raw in self.redis.hscan_iter(_prefix(board.id, board.season) + "st", count=batch):
            out[player.decode()] = _decode(raw)
        return out


CONFLICT_COUNTS_KEY = "pg:conflicts:count"


def _conflicts(board: Board, player: str, before: RegionalState, after: RegionalState, incoming: str) -> list[Conflict]:
    """A write from `incoming` is concurrent with every other region's write of the entry: region
    sequences are independent counters, so the vectors {incoming: n} and {other: m} never dominate
    each other. Logged when the two values differ (equal values are no conflict)."""
    out = []
    new = after[incoming]
    if new[1] == TOMBSTONE_TS:
        return []   # a removal is no concurrent value
    for region, value in live(before).items():
        if region == incoming or (value[0], value[1]) == (new[0], new[1]):
            continue
        won = winner(board.operator, board.order, {region: value, incoming: new})
        lose = incoming if won == region else region
        out.append(Conflict(player, won or region, lose, (after[won or region][0], after[won or region][1]),
                            (after[lose][0], after[lose][1])))
    return out


def _newest_per_region(changes: Sequence[Change]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in changes:
        out[c.region] = max(out.get(c.region, 0), c.seq)
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode(state: RegionalState) -> bytes:
    return orjson.dumps({r: list(v) for r, v in state.items()})


def _decode(raw: bytes | str | None) -> RegionalState:
    if raw is None:
        return {}
    return {r: (v[0], v[1], v[2]) for r, v in orjson.loads(raw).items()}
