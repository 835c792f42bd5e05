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
    pg:{B}:<season>:enc  string  MEMBER_ENCODING once the sorted set is known to be in the current
                                 member encoding (`upgrade` rebuilds it from the state hash otherwise)
A batch is merged in this process under a per-board lock (merge_reference.py), or with
`merge_in_redis` by one Lua script (podium/lua/global_merge.lua: the same rules, tested against the
Python merge), so a read-merge-write of a player's state is never interleaved; every merge is idempotent and commutative, so replays and reordering from the shippers
change nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import orjson
from podium.global_.merge_reference import (
    CONFLICT_COUNTS_KEY,
    CONFLICTS_LEN_MAX,
    _decode,
    _prefix,
    _text,
    apply_reference,
)
from podium.replication.changes import Change
from podium.replication.regional_state import TOMBSTONE_TS, RegionalState, live, resolve
from redis.exceptions import RedisError

from podium.invariant import invariant
from podium.model import ACHIEVED_AT_MAX_MS, SCORE_ABS_MAX, Board, RankedEntry, SortOrder
from podium.ranking import decode_member, encode_member, from_zscore, to_zscore
from podium.redis_client import AnyRedis, as_text, members, scored_members, stream_entries, stream_max_before
from podium.store_errors import translate_store_errors

# The sorted set's member encoding (podium.ranking). A set written by an older version (members
# "<12 hex digits>:<player>") is rebuilt from the state hash, which holds no encoded member.
MEMBER_ENCODING = "ts8"
UPGRADE_CHUNK_ENTRIES = 5_000


@dataclass(frozen=True, slots=True)
class MergedEntry:
    player: str
    score: int
    achieved_at_ms: int
    versions: dict[str, int]          # the entry's version vector {region: seq}
    contributions: dict[str, int]     # each region's value


@translate_store_errors("the global store (Redis)")
class GlobalStore:
    def __init__(self, redis: AnyRedis, *, merge_in_redis: bool = False) -> None:
        """`merge_in_redis`: merge each batch with podium/lua/global_merge.lua (one EVALSHA) instead
        of in this process (settings: global_.merge_in_redis; see docs/global-merge.md)."""
        self.redis = redis
        self.merge_in_redis = merge_in_redis
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._merge = redis.register_script(resources.files("podium").joinpath("lua/global_merge.lua").read_text())
        self._safe_regions: set[str] = set()   # region ids checked by `_plain`

    async def apply(self, board: Board, changes: Sequence[Change]) -> int:
        """Merge regional changes of one board; returns how many merged entries changed. One
        EVALSHA (podium/lua/global_merge.lua) reads, merges and writes the whole batch atomically,
        so concurrent batches of a board need no lock here."""
        if not changes:
            return 0
        if not self.merge_in_redis:
            # one merger per board in this process: a read-merge-write is never interleaved
            async with self._locks[board.id]:
                merged: int = await apply_reference(self.redis, board, changes)
                return merged
        p = _prefix(board.id, board.season)
        safe = self._safe_regions
        for c in changes:
            if c.region not in safe:
                invariant(_plain(c.region), f"region id {c.region!r} holds a JSON-escaped or separator character")
                safe.add(c.region)
            invariant(c.seq >= 0 and abs(c.score) <= SCORE_ABS_MAX
                      and (c.removed or 0 <= c.achieved_at_ms <= ACHIEVED_AT_MAX_MS),
                      "a change out of the encodable range (seq >= 0, |score| <= 2^53, time)")
        packed = "\n".join([f"{c.region}\t{c.player}\t{c.score}\t{TOMBSTONE_TS if c.removed else c.achieved_at_ms}"
                             f"\t{c.seq}" for c in changes])
        # a tab or newline in a player id would shift the script's fields (ingest refuses them)
        invariant(packed.count("\t") == 4 * len(changes) and packed.count("\n") == len(changes) - 1,
                  "a player id holds a tab or newline")
        args = [board.operator.value, "1" if board.order is SortOrder.DESC else "0", CONFLICTS_LEN_MAX, packed]
        keys = [p + "st", p + "z", p + "applied", p + "ver", p + "conflicts"]
        changed, conflicts = await self._merge(keys=keys, args=args)
        if conflicts:
            await self.redis.hincrby(CONFLICT_COUNTS_KEY, board.id, int(conflicts))
        return int(changed)

    async def upgrade(self, board: Board) -> int | None:
        """Rebuilds the merged sorted set from the state hash unless it is marked as written in the
        current member encoding; returns the entries written, None when it already was. The state
        is the source of truth (the set is derived from it by `resolve`), so the rebuild is exact
        whatever encoding the old set used. Run before the board takes merges (GlobalService.open):
        a merge meanwhile would be overwritten by the swap."""
        p = _prefix(board.id, board.season)
        if as_text(await self.redis.get(p + "enc") or b"") == MEMBER_ENCODING:
            return None
        aside, written = p + "z.upgrade", 0
        await self.redis.unlink(aside)
        chunk: dict[str, float] = {}
        async for player, raw in self.redis.hscan_iter(p + "st", count=UPGRADE_CHUNK_ENTRIES):
            value = resolve(board.operator, board.order, _decode(raw))
            if value is not None:
                chunk[encode_member(value[1], _text(player))] = to_zscore(value[0], board.order)
            if len(chunk) >= UPGRADE_CHUNK_ENTRIES:
                written += await self._add_aside(aside, chunk)
        written += await self._add_aside(aside, chunk)
        # one key at a time (a cluster client has no MULTI): a crash before the mark only means
        # the next start rebuilds again, from the same state
        if written:
            await self.redis.rename(aside, p + "z")
        else:
            await self.redis.unlink(p + "z")
        await self.redis.set(p + "enc", MEMBER_ENCODING)
        await self.redis.incr(p + "ver")   # subscribers re-read the top
        return written

    async def _add_aside(self, key: str, chunk: dict[str, float]) -> int:
        if not chunk:
            return 0
        await self.redis.zadd(key, chunk)
        n = len(chunk)
        chunk.clear()
        return n

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


def _plain(region: str) -> bool:
    """The script writes region ids into the state's JSON as they are and splits its input on tabs
    and newlines: an id must need no JSON escaping and hold no separator."""
    return bool(region) and orjson.dumps(region)[1:-1].decode() == region and "\t" not in region
