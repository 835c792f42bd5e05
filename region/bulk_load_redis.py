"""Loading a whole board into Redis at bulk speed: a rebuild's last step (region/recovery.py).

The one way a whole board is replaced (`RedisRankStore.replace` delegates here): a board built
aside under keys that expire on their own, its player index written in the final linear-hashing
state, one atomic swap by replace.lua, the replaced index generation deleted afterwards. Built for
a million players:
- entries arrive a page at a time (lists, not one async step per player);
- members and sorted-set scores are made in one pass over a page and sent as plain ZADDs of
  `LOAD_ZADD_ENTRIES` entries, the next page prepared while Redis applies the previous one (one
  ZADD in flight);
- the index is written from the sorted set read back in rank order, as bytes (no decode, the
  bucket hash on the member's bytes), one bulk_index.lua call per read doing each bucket's HSET:
  a pipeline of one HSET per bucket cost the client more in replies than the hashing.
Hashing inside Redis instead (a Lua script hashing each member) was tried: it took 2.3× the Redis
CPU of the whole load (200k players: 2.2-2.5 s vs 1.1 s), more than the client saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import AsyncIterable, Sequence
from itertools import chain

from podium.region.rank_index import (
    BUILD_TTL_MS,
    DROP_CHUNK_KEYS,
    IX_HASH_MIX,
    IX_HASH_PREFIX,
    IX_HASH_PRIME,
    index_state,
    lua,
    lua_with_index,
)
from redis.exceptions import RedisError

from podium.invariant import invariant
from podium.keys import keys_of
from podium.model import ACHIEVED_AT_MAX_MS, SCORE_ABS_MAX, Board, SortOrder
from podium.ranking import TS_KEY_WIDTH, ts_key
from podium.redis_client import AnyRedis, members
from podium.store_errors import translate_store_errors

# Entries per ZADD: a few ms of Redis (other boards wait that long at most); 10k-entry ZADDs
# outran the client's 5 s read timeout at load 44 on the bench machine.
LOAD_ZADD_ENTRIES = 5000
# Members read back per index pass (one bulk_index.lua call each, ~2.6 fields' arguments per
# member): fewer and fuller HSETs per bucket with more, a longer script with more.
INDEX_READ_ENTRIES = 20_000

Entry = tuple[str, int, int]   # (player, score, achieved_at_ms)


def zadd_args(entries: Sequence[Entry], order: SortOrder) -> list[int | str]:
    """ZADD's score/member pairs of `entries` (the members and sorted-set scores RankStore writes:
    `encode_member`, `to_zscore`), ranges checked once per call rather than per entry."""
    if not entries:
        return []
    scores = [s for _, s, _ in entries]
    times = [t for _, _, t in entries]
    invariant(-SCORE_ABS_MAX <= min(scores) and max(scores) <= SCORE_ABS_MAX, "score out of exact range")
    invariant(0 <= min(times) and max(times) <= ACHIEVED_AT_MAX_MS, "achievement time out of encodable range")
    if order is SortOrder.DESC:
        return list(chain.from_iterable((-s, ts_key(t) + p) for p, s, t in entries))
    return list(chain.from_iterable((s, ts_key(t) + p) for p, s, t in entries))


@translate_store_errors("the rank store (Redis)")
class RedisBoardLoader:
    """Replaces a board's live season with the entries given, each player once."""

    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        self._replace = redis.register_script(lua_with_index("replace"))
        self._index = redis.register_script(lua("bulk_index"))

    async def replace(self, board: Board, pages: AsyncIterable[Sequence[Entry]]) -> int:
        """Loads `pages` aside, then swaps them in atomically. Returns the number of entries."""
        k = keys_of(board)
        token = secrets.token_hex(6)
        # The live keys' hash tag (`pb:{B}:…`): the swap runs on one cluster slot.
        built_z, built_i, prefix = f"{k.zset}:rb:{token}", f"{k.index}:rb:{token}", f"{k.index}:{token}"
        total = 0
        sending: asyncio.Future[object] | None = None
        try:
            pending: list[Entry] = []
            async for page in pages:
                pending.extend(page)
                while len(pending) >= LOAD_ZADD_ENTRIES:
                    chunk, pending = pending[:LOAD_ZADD_ENTRIES], pending[LOAD_ZADD_ENTRIES:]
                    sending = await self._send(sending, built_z, zadd_args(chunk, board.order))
                    total += len(chunk)
            if pending:
                sending = await self._send(sending, built_z, zadd_args(pending, board.order))
                total += len(pending)
            if sending is not None:
                await sending
            await self._build_index(built_z, built_i, prefix, total)
            raw = await self._replace(keys=[built_z, built_i, k.zset, k.index, k.legacy_index], args=[total, prefix])
        except BaseException:
            if sending is not None and not sending.done():
                sending.cancel()
            # Best effort: with Redis gone the keys expire on their own (BUILD_TTL_MS).
            with contextlib.suppress(RedisError, OSError):
                await self.redis.delete(built_z, built_i)
            raise
        swapped = int(raw[0])
        invariant(swapped == total, f"replace of {board.id!r}: {total} rows given, each player must appear once")
        old_prefix = raw[1].decode() if isinstance(raw[1], bytes) else raw[1]
        await self._drop_buckets(old_prefix, int(raw[2]))
        return total

    async def _send(self, previous: asyncio.Future[object] | None, zset: str,
                    args: list[int | str]) -> asyncio.Future[object]:
        """Starts one ZADD (with the build's TTL) once the previous one is done: one in flight,
        so the caller prepares the next chunk while Redis applies this one."""
        if previous is not None:
            await previous

        async def zadd() -> object:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.execute_command("ZADD", zset, *args)
                pipe.pexpire(zset, BUILD_TTL_MS)
                return await pipe.execute()

        return asyncio.ensure_future(zadd())

    async def _build_index(self, zset: str, index: str, prefix: str, total: int) -> None:
        """The index of the board built aside, in its final linear-hashing state (no bucket ever
        splits), from its sorted set read back in rank order, `INDEX_READ_ENTRIES` at a time.
        Members stay bytes (player = member[TS_KEY_WIDTH:], its time key the rest): no decode."""
        if not total:   # replace.lua gives an empty board a fresh empty index itself
            return
        level, split = index_state(total)
        low_mask, high_mask = (1 << level) - 1, (2 << level) - 1
        players, start, expiring = 0, 0, set[int]()
        while rows := members(await self.redis.zrange(zset, start, start + INDEX_READ_ENTRIES - 1)):
            grouped: dict[int, list[bytes]] = defaultdict(list)
            for member in rows:
                raw = member.encode() if isinstance(member, str) else member
                player = raw[TS_KEY_WIDTH:]
                h = int.from_bytes(IX_HASH_PREFIX + player, "big") % IX_HASH_PRIME * IX_HASH_MIX \
                    % IX_HASH_PRIME * IX_HASH_MIX % IX_HASH_PRIME   # fast_hash on bytes
                b = h & low_mask
                if b < split:
                    b = h & high_mask
                fields = grouped[b]
                fields.append(player)
                fields.append(raw[:TS_KEY_WIDTH])
            args: list[bytes | int | str] = [prefix, BUILD_TTL_MS]
            for b, fields in grouped.items():
                args += (b, len(fields) // 2, 0 if b in expiring else 1)
                args += fields
            expiring |= grouped.keys()
            players += int(await self._index(keys=[index], args=args))
            start += len(rows)
            if len(rows) < INDEX_READ_ENTRIES:
                break
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(index, mapping={"l": level, "p": split, "n": players, "k": prefix, "h": "f"})
            pipe.pexpire(index, BUILD_TTL_MS)
            await pipe.execute()

    async def _drop_buckets(self, prefix: str, count: int) -> None:
        """Deletes the replaced index generation (no write reaches it any more), a chunk at a time."""
        for start in range(0, count, DROP_CHUNK_KEYS):
            await self.redis.unlink(*(f"{prefix}:{b}" for b in range(start, min(count, start + DROP_CHUNK_KEYS))))
