"""Compaction of a stream's sketch-delta lists on Redis, off the ingest request path.

Every batch appends one serialized sketch delta per (bucket, series) it touches; past
`sketch_deltas_max` deltas a list is replaced by the merge of its first deltas. A batch spread over
an hour touches ~160 lists, and they all cross the limit on the same batch: compacting them one by
one inside the request (a lock, a read and a Lua call each, sequentially) was the ack's p99. Here
the lists one batch reports are compacted together in one background task per stream: one Lua
call takes their locks and reads them, the merges run on the event loop one list at a time, one Lua
call writes them.
Each list comes due at its own threshold (`due`), so lists grown in step are not all compacted
by the same batch. While a stream's task runs, further reports for it are dropped (the next
batch after it reports the lists again), so a list holds at most `sketch_deltas_max` plus the
batches of one compaction."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from podium.replication import trending_sketch as sketches

from podium.errors import PodiumError
from podium.redis_client import AnyRedis

log = logging.getLogger("podium.trending.compaction")
COMPACT_LOCK_MS = 10_000

# KEYS are (list, lock, meta hash) triples; ARGV (token, deltas merged, merged sketch, generation
# field) quadruples. Replaces the first n deltas of each list whose lock is still ours by their merge
# (only the lock holder compacts; writers only append, so the first n entries are the ones that were
# merged), and bumps the list's generation in the bucket's meta hash: a reader that kept the list's
# first deltas merged (sketch_read_redis.py) then knows they moved. The merge overwrites the n-th
# delta and the ones before it are trimmed, so the list is never emptied: it keeps the expiry its
# first append set (ingest sets it only when it creates the list). A list that expired meanwhile
# is left alone.
COMPACT_LUA = """
local done = 0
for i = 1, #KEYS, 3 do
  local j = (i - 1) / 3 * 4
  local n = tonumber(ARGV[j + 2])
  if redis.call('GET', KEYS[i + 1]) == ARGV[j + 1] then
    redis.call('DEL', KEYS[i + 1])
    if n > 0 and redis.call('LLEN', KEYS[i]) >= n then
      redis.call('LSET', KEYS[i], n - 1, ARGV[j + 3])
      redis.call('LTRIM', KEYS[i], n - 1, -1)
      if redis.call('EXISTS', KEYS[i + 2]) == 1 then redis.call('HINCRBY', KEYS[i + 2], ARGV[j + 4], 1) end
      done = done + 1
    end
  end
end
return done
"""

# KEYS are (list, lock) pairs; ARGV[1] the lock's time-out (ms), then (token, length) pairs. Takes
# each list's lock if it is free and returns, per list, its first `length` deltas, or 0 when another
# compaction holds it: one call where a pipeline of locks and a pipeline of reads were two round
# trips and 2 commands per list of client work.
TAKE_LUA = """
local out = {}
for i = 1, #KEYS, 2 do
  local j = i + 1
  if redis.call('SET', KEYS[i + 1], ARGV[j], 'NX', 'PX', ARGV[1]) then
    out[#out + 1] = redis.call('LRANGE', KEYS[i], 0, tonumber(ARGV[j + 1]) - 1)
  else out[#out + 1] = 0 end
end
return out
"""

Guard = Callable[[Awaitable[Any]], Awaitable[Any]]
GENERATION = "g:"      # meta hash field (per series) counting the compactions of a bucket's sketch list


class CompactList(NamedTuple):
    key: str           # the sketch-delta list
    length: int        # its length when the batch that reported it wrote it
    meta_key: str      # the bucket's meta hash (its generation field is bumped)
    series: str


def due(key: str, length: int, deltas_max: int) -> bool:
    """Whether a list of this length is compacted: past a threshold between 3/4 of `deltas_max`
    and `deltas_max`, fixed per list. A batch spread over an hour grows ~160 lists in step; with
    one threshold they all came due on the same batch (one long compaction every `deltas_max`
    batches, the ack's tail); staggered, each batch compacts a few of them."""
    return length > deltas_max - zlib.crc32(key.encode()) % (deltas_max // 4 + 1)


class SketchCompactor:
    def __init__(self, redis: AnyRedis, guard: Guard) -> None:
        self.redis = redis
        self.guard = guard
        self._script = redis.register_script(COMPACT_LUA)
        self._take = redis.register_script(TAKE_LUA)
        self._running: dict[str, asyncio.Task[None]] = {}

    def request(self, stream: str, lg_size: int, lists: Sequence[CompactList]) -> None:
        """Compacts these lists in the background, unless the stream's task runs."""
        if not lists or stream in self._running:
            return
        task = asyncio.create_task(self._run(lg_size, list(lists)))
        self._running[stream] = task
        task.add_done_callback(lambda _t: self._running.pop(stream, None))

    async def settle(self) -> None:
        """Waits for the compactions under way (tests and shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(self, lg_size: int, lists: list[CompactList]) -> None:
        try:
            await self.compact(lg_size, lists)
        except PodiumError as exc:     # the store is down: the lists are compacted on a later batch
            log.warning("sketch compaction skipped: %s", exc)

    async def compact(self, lg_size: int, lists: Sequence[CompactList]) -> int:
        """Compacts the lists whose lock this call takes; returns how many it compacted."""
        tokens = [hashlib.sha1(f"{c.key}|{c.length}".encode()).hexdigest() for c in lists]
        keys: list[str] = []
        args: list[Any] = [COMPACT_LOCK_MS]
        for c, token in zip(lists, tokens, strict=True):
            keys += [c.key, c.key + ":lock"]
            args += [token, c.length]
        reads = await self.guard(self._take(keys=keys, args=args))
        taken = [(c, token, read) for c, token, read in zip(lists, tokens, reads, strict=True) if read != 0]
        if not taken:
            return 0
        mine = [(c, token) for c, token, _read in taken]
        blobs: list[list[bytes]] = [read for _c, _token, read in taken]
        # merged on the event loop one list at a time, yielding between lists: each slice is short
        # (about a millisecond), where a thread merging them all held the GIL against every request
        merged: list[bytes] = []
        for read in blobs:
            merged.append(sketches.serialize(sketches.merge_onto_first(read, lg_size)))
            await asyncio.sleep(0)
        keys = []
        args = []
        # a list read empty (it expired) only has its lock released
        for (c, token), read, blob in zip(mine, blobs, merged, strict=True):
            keys += [c.key, c.key + ":lock", c.meta_key]
            args += [token, len(read), blob, GENERATION + c.series]
        return int(await self.guard(self._script(keys=keys, args=args)))
