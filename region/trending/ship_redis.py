"""The trending outbox on Redis: which bucket cells changed since the global tier last took them,
and their state as shipped (one adapter: region/trending's replication side).

The count script adds every cell it writes to pt:{s}:dirty. A round first claims them (one Lua
call moves dirty into pt:{s}:inflight), reads and ships the inflight cells a body at a time, and
removes each body's cells from inflight once the global tier acknowledged it. A cell written
after the claim is marked dirty again, so the next round ships its newer state; a round that
fails leaves its cells inflight, and the next claim keeps them. Delivery is at-least-once; the
global tier keeps the newest state of each cell (version, then total). A stream's cells written
before the region shipped to a global tier are marked once (`backfill`), and all of them again by a
repair (`backfill(force=True)`: the global store was wiped, or the periodic repair pass).
pt:ship:generation remembers the global store the region last shipped everything into."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from podium.region.trending.store_redis import _guard, _prefix
from podium.region.trending.streams import StreamSpec
from podium.replication import trending_sketch as sketches
from podium.replication.trending_buckets import Resolution
from podium.replication.trending_wire import TrendCell

from podium.redis_client import AnyRedis

GENERATION_KEY = "pt:ship:generation"
_RES = {"m": Resolution.MINUTE, "h": Resolution.HOUR, "d": Resolution.DAY}
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
return redis.call('SCARD', KEYS[2])
"""


def _parse(p: str, member: str) -> tuple[Resolution, int, str] | None:
    """pt:{s}:c:<r>:<start>:<series> -> (resolution, start, series); None for anything else."""
    if not member.startswith(p + "c:"):
        return None
    res, _, rest = member[len(p) + 2:].partition(":")
    start, _, series = rest.partition(":")
    if res not in _RES or not start.isdigit():
        return None
    return _RES[res], int(start), series


def _merged_sketch(blobs: list[bytes], lg_size: int) -> bytes:
    return sketches.serialize(sketches.merge_blobs(blobs, lg_size))


class TrendingOutbox:
    def __init__(self, redis: AnyRedis, exact_items_max: int) -> None:
        self.redis = redis
        self.exact_items_max = exact_items_max
        self._claim = redis.register_script(CLAIM)

    async def backfill(self, stream: str, force: bool = False) -> int:
        """Once per stream (a marker key remembers it), or whenever `force`d: marks every cell it
        holds, so counts written before this region shipped to a global tier (or lost by it) reach
        it. Returns cells marked."""
        p = _prefix(stream)
        if not force and await _guard(self.redis.exists(p + "shipping")):
            return 0

        async def keys() -> list[bytes]:
            return [key async for key in self.redis.scan_iter(match=f"{p}c:*", count=1000)]

        found = await _guard(keys())      # bounded by the cells the stream keeps
        marked = 0
        for lo in range(0, len(found), 1000):
            marked += int(await _guard(self.redis.sadd(p + "dirty", *found[lo:lo + 1000])))
        # set last: a backfill cut short by an error runs again (marking twice is harmless)
        await _guard(self.redis.set(p + "shipping", b"1"))
        return marked

    async def generation(self) -> str | None:
        """The global store's generation the region last shipped everything into (None: never)."""
        value = await _guard(self.redis.get(GENERATION_KEY))
        return value.decode() if value is not None else None

    async def set_generation(self, generation: str) -> None:
        await _guard(self.redis.set(GENERATION_KEY, generation))

    async def claim(self, stream: str) -> int:
        """Moves the dirty cells into inflight; returns how many cells are inflight."""
        p = _prefix(stream)
        return int(await _guard(self._claim(keys=[p + "dirty", p + "inflight"])))

    async def pending(self, stream: str, count: int) -> list[str]:
        members = await _guard(self.redis.srandmember(_prefix(stream) + "inflight", count))
        return sorted(m.decode() for m in members or [])

    async def acknowledge(self, stream: str, members: Sequence[str]) -> None:
        if members:
            await _guard(self.redis.srem(_prefix(stream) + "inflight", *members))

    async def read(self, spec: StreamSpec, members: Sequence[str]) -> list[TrendCell]:
        """Each cell's shipped state: its top `exact_items_max` exact counts (and the floor under
        the rest), total, other and its sketch deltas merged into one. Expired cells are left out."""
        p = _prefix(spec.id)
        parsed = [(m, _parse(p, m)) for m in members]
        cells = [(m, c) for m, c in parsed if c is not None]
        version = int(await _guard(self.redis.get(p + "ver")) or 0)    # read first: the cells are at least this new
        pipe = self.redis.pipeline(transaction=False)
        n = self.exact_items_max
        for member, (res, start, series) in cells:
            base = f"{member[len(p) + 2:].split(':', 2)[0]}:{start}"
            pipe.zrevrange(member, 0, n, withscores=True)
            pipe.hmget(f"{p}m:{base}", [f"t:{series}", f"o:{series}"])
            pipe.lrange(f"{p}k:{base}:{series}", 0, -1)
        replies: list[Any] = await _guard(pipe.execute()) if cells else []
        out: list[TrendCell] = []
        for i, (_member, (res, start, series)) in enumerate(cells):
            rows, (total, other), blobs = replies[3 * i: 3 * i + 3]
            if total is None:
                continue         # expired since it was written
            ranked = sorted(((m.decode(), int(s)) for m, s in rows), key=lambda r: (-r[1], r[0]))
            head, floor = (ranked[:n], ranked[n][1]) if len(ranked) > n else (ranked, 0)
            # the tail past the top n: ties of the n-th count may be left out, the floor covers them
            sketch = await asyncio.to_thread(_merged_sketch, blobs, spec.sketch_lg_size)
            out.append(TrendCell(spec.id, res, start, series, version, int(total), int(other or 0), floor,
                                 dict(head), sketch))
        return out
