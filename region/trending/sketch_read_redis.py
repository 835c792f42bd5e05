"""The approximate read on Redis: the merged frequent-items sketch of a range's buckets.

One Lua call reads every covering bucket's total and, only for the buckets whose total differs
from the version this process keeps deserialized (`sketch_cache`), its list of sketch deltas: the
totals and lists are read atomically, and a 30-day read of unchanged buckets moves a few bytes per
bucket instead of every delta. The merge of each run of buckets of one resolution (but its last
bucket) is kept too, so a read that finds everything kept merges a handful of sketches on the
event loop; one that has deltas to deserialize or runs to merge does that in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from datasketches import frequent_strings_sketch
from podium.region.trending.sketch_cache import SketchCache, extend, merge_all, runs
from podium.replication import trending_sketch as sketches

from podium.redis_client import AnyRedis

Guard = Callable[[Awaitable[Any]], Awaitable[Any]]
Part = tuple[tuple[int, int], frequent_strings_sketch | None]   # a bucket range and its kept merge (or None)

# KEYS are (meta hash, sketch list) pairs, one per bucket; ARGV[1] the series, then per bucket the
# total, list length and list generation (compactions) the caller keeps the bucket's sketch for
# (total "-1": none). Returns per bucket {total} when that total is current; else {total, length,
# generation, from, the deltas from index `from`}: only the new tail (from = the kept length) when
# the list was not compacted since (its first deltas are then the ones kept merged), else all of it
# (from = 0). Every key is in the stream's hash tag (one cluster slot).
READ_SKETCHES = """
local total, gen = 't:' .. ARGV[1], 'g:' .. ARGV[1]
local out = {}
for i = 1, #KEYS / 2 do
  local a = 2 + (i - 1) * 3
  local t = redis.call('HGET', KEYS[2 * i - 1], total) or '0'
  if t == ARGV[a] then out[i] = {t}
  else
    local g = redis.call('HGET', KEYS[2 * i - 1], gen) or '0'
    local n = redis.call('LLEN', KEYS[2 * i])
    local from = 0
    if ARGV[a] ~= '-1' and g == ARGV[a + 2] and n >= tonumber(ARGV[a + 1]) then from = tonumber(ARGV[a + 1]) end
    out[i] = {t, n, g, from, redis.call('LRANGE', KEYS[2 * i], from, -1)}
  end
end
return out
"""

class _Plan:
    """What one read needs computed: the sketches of buckets not kept, the merges of runs not kept."""

    def __init__(self, lg_size: int, kept: list[frequent_strings_sketch | None], lists: dict[int, list[bytes]],
                 bases: dict[int, frequent_strings_sketch], parts: list[Part]) -> None:
        self.lg_size = lg_size
        self.kept = kept
        self.lists = lists              # a bucket's deltas not kept merged (all, or the tail past `bases`)
        self.bases = bases              # a bucket's kept sketch that its new tail extends
        self.parts = parts              # in bucket order
        self.new_buckets: dict[int, frequent_strings_sketch] = {}
        self.new_runs: dict[tuple[int, int], frequent_strings_sketch] = {}

    def trivial(self) -> bool:
        """Nothing to deserialize or merge but the parts themselves (cheap enough for the event loop)."""
        return all(merged is not None or (hi - lo == 1 and self.kept[lo] is not None)
                   for (lo, hi), merged in self.parts)

    def bucket(self, i: int) -> frequent_strings_sketch:
        sketch = self.kept[i]
        if sketch is None:
            sketch = self.new_buckets[i] = extend(self.bases.get(i), self.lists.get(i, []), self.lg_size)
            self.kept[i] = sketch
        return sketch

    def merged(self) -> frequent_strings_sketch:
        out = []
        for (lo, hi), merged in self.parts:
            if merged is None:
                if hi - lo == 1:
                    merged = self.bucket(lo)
                else:
                    merged = self.new_runs[(lo, hi)] = merge_all([self.bucket(i) for i in range(lo, hi)],
                                                                 self.lg_size)
            out.append(merged)
        return merge_all(out, self.lg_size)


class SketchReader:
    def __init__(self, redis: AnyRedis, cache_bytes_max: int, guard: Guard) -> None:
        self._script = redis.register_script(READ_SKETCHES)
        self.cache = SketchCache(cache_bytes_max)
        self.guard = guard

    async def read(self, prefix: str, bases: Sequence[str], resolutions: Sequence[object], series: str,
                   lg_size: int) -> tuple[frequent_strings_sketch, int]:
        """The merged sketch of the buckets (`bases`: their key parts, in time order) and their total."""
        if not bases:
            return sketches.new(lg_size), 0
        skeys = [f"{prefix}k:{base}:{series}" for base in bases]
        ckeys: list[Hashable] = [(key, lg_size) for key in skeys]
        held = [self.cache.held(key) for key in ckeys]     # pinned: still usable if evicted meanwhile
        keys = [k for base, skey in zip(bases, skeys, strict=True) for k in (f"{prefix}m:{base}", skey)]
        args = [series]
        for entry in held:
            args += [str(v) for v in entry.version] if entry is not None else ["-1", "0", "0"]
        replies = await self.guard(self._script(keys=keys, args=args))
        totals = [int(r[0]) for r in replies]
        lists: dict[int, list[bytes]] = {}
        versions: dict[int, tuple[int, int, int]] = {}    # (total, length, generation) of the changed buckets
        tails: dict[int, frequent_strings_sketch] = {}
        for i, (r, entry) in enumerate(zip(replies, held, strict=True)):
            if len(r) > 1:
                lists[i], versions[i] = list(r[4]), (int(r[0]), int(r[1]), int(r[2]))
                if int(r[3]) > 0 and entry is not None:     # only the new tail: extend the kept sketch
                    tails[i] = entry.sketch
        kept: list[frequent_strings_sketch | None] = []
        for i, entry in enumerate(held):
            current = entry is not None and i not in lists
            kept.append(entry.sketch if entry is not None and current else None)
            self.cache.count(ckeys[i], current)
        parts: list[Part] = []
        for lo, hi in runs(resolutions):
            if hi - lo > 2:      # the run but its last bucket (the one a live stream keeps changing)
                parts.append(((lo, hi - 1), self.cache.get(self._run_key(ckeys, lo, hi - 1), tuple(totals[lo:hi - 1]))))
            elif hi - lo == 2:
                parts.append(((lo, lo + 1), kept[lo]))
            parts.append(((hi - 1, hi), kept[hi - 1]))
        plan = _Plan(lg_size, kept, lists, tails, parts)
        merged = plan.merged() if plan.trivial() else await asyncio.to_thread(plan.merged)
        for i, sketch in plan.new_buckets.items():
            self.cache.put(ckeys[i], versions[i], sketch)
        for (lo, hi), sketch in plan.new_runs.items():
            self.cache.put(self._run_key(ckeys, lo, hi), tuple(totals[lo:hi]), sketch)
        return merged, sum(totals)

    @staticmethod
    def _run_key(ckeys: Sequence[Hashable], lo: int, hi: int) -> Hashable:
        return ("run", tuple(ckeys[lo:hi]))
