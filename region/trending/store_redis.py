"""The trending store on Redis: the one adapter of region/trending.

Per stream (hash tag `{stream}`, so a stream's keys share a cluster slot), bucket and series:
  pt:{s}:c:<r>:<start>:<series>   sorted set item -> exact count (at most items_per_bucket_max)
  pt:{s}:m:<r>:<start>            hash t:<series> total weight, o:<series> weight past the item cap,
                                  g:<series> compactions of the sketch list
  pt:{s}:v:<r>:<start>:<dim>      set of a dimension's values (at most dim_values_per_bucket_max)
  pt:{s}:k:<r>:<start>:<series>   list of serialized frequent-items sketches (per-batch deltas,
                                  compacted into one past sketch_deltas_max)
  pt:{s}:ids:<slot>               set of the event ids counted in one quarter of the dedup window
  pt:{s}:ver                      bumped by every batch (live subscriptions re-read on change)
  pt:{s}:dirty, pt:{s}:inflight   cells written since the global tier last took them (ship_redis.py)
  pt:{s}:shipping                 set once the stream's earlier cells were marked for the global tier
A batch is aggregated in Python (`ingest_plan`) and written by at most three Lua calls (dedup check,
dimension caps, counts with the batch's ids: `ingest_lua`), the usual one by the last alone (it
checks the ids and admits the values itself); the table in `table.py` is their reference; long sketch
lists are compacted in the background (`sketch_compaction_redis`);
every bucket key expires when its resolution's retention has passed. Streams are declared in the
hash pt:streams."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import orjson
from podium.region.trending import exact_cover, ingest_lua, threshold_merge, threshold_merge_redis
from podium.region.trending import ingest_plan as plan
from podium.region.trending.events import TrendEvent
from podium.region.trending.ingest_plan import EventColumns
from podium.region.trending.sketch_compaction_redis import CompactList, SketchCompactor, due
from podium.region.trending.sketch_read_redis import SketchReader
from podium.region.trending.streams import StreamSpec
from podium.region.trending.threshold_merge_redis import RedisBucketPages
from podium.replication import trending_sketch as sketches
from podium.replication.trending_buckets import Bucket, Resolution
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from podium.clock import Clock, SystemClock
from podium.config import TrendingSettings
from podium.errors import Conflict, Internal, NotFound, Unavailable
from podium.redis_client import AnyRedis

log = logging.getLogger(__name__)
STREAMS_KEY = "pt:streams"
RES_CODE = {Resolution.MINUTE: "m", Resolution.HOUR: "h", Resolution.DAY: "d"}
EXPIRY_SLACK_MS = 60_000
REFRESH_MS = 1000
_MSGPACK = msgspec.msgpack.Encoder()   # Lua arguments packed in C (ingest_lua unpacks with cmsgpack)
DEDUP_SLOTS = 4           # the dedup window is split in this many id sets (an id is kept 1-1.25 windows)
COMMIT_ATTEMPTS_MAX = 8   # a batch racing concurrent batches that share its ids dedups again at most this often


def _prefix(stream: str) -> str:
    return f"pt:{{{stream}}}:"


def _base(b: Bucket) -> str:
    return f"{RES_CODE[b.resolution]}:{b.start_ms}"


def _cell_base(cell: plan.Cell) -> str:
    return f"{RES_CODE[cell.resolution]}:{cell.start_ms}"


def _cells_with_sketches(spec: StreamSpec, cols: EventColumns, by_level: Mapping[Resolution, plan.Level],
                         refused: list[plan.DimOffer]) -> list[tuple[plan.Cell, bytes]]:
    """Each cell's increments and its serialized sketch delta (CPU work, run off the event loop)."""
    return [(cell, sketches.serialize(sketches.of_counts(cell.counts.items(), spec.sketch_lg_size)))
            for cell in plan.cells(spec, cols, by_level, refused)]


def _chunks(cells: list[tuple[plan.Cell, bytes]], items_max: int) -> list[list[tuple[plan.Cell, bytes]]]:
    """Consecutive runs of cells holding at most `items_max` items (a cell is never split)."""
    out: list[list[tuple[plan.Cell, bytes]]] = [[]]
    n = 0
    for cell in cells:
        if out[-1] and n + len(cell[0].counts) > items_max:
            out.append([])
            n = 0
        out[-1].append(cell)
        n += len(cell[0].counts)
    return out


def _ranked(flat: list[bytes]) -> list[tuple[str, int]]:
    """A top script's flat reply in rank order: ZREVRANGE lists equal counts in reverse byte order
    and the rule is item ascending (UTF-8 byte order is code point order, so sorting the bytes
    sorts the strings)."""
    rows = sorted(((flat[i], int(float(flat[i + 1]))) for i in range(0, len(flat), 2)), key=lambda r: (-r[1], r[0]))
    return [(m.decode(), c) for m, c in rows]


class TrendingStoreError(Unavailable):
    def __init__(self) -> None:
        super().__init__("the trending store (Redis) is unreachable; retry shortly", retryAfter=1)


async def _guard(coro: Any) -> Any:
    try:
        return await coro
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise TrendingStoreError() from exc
    except RedisError as exc:
        raise Internal("the trending store rejected an operation") from exc


class RedisTrendingStore:
    def __init__(self, redis: AnyRedis, limits: TrendingSettings, clock: Clock | None = None) -> None:
        self.redis = redis
        self.limits = limits
        self.clock: Clock = clock or SystemClock()
        self._dedup_script = redis.register_script(ingest_lua.DEDUP)
        self._admit = redis.register_script(ingest_lua.ADMIT_VALUES)
        self._increment = redis.register_script(ingest_lua.INCREMENT)
        self._commit_increment = redis.register_script(ingest_lua.COMMIT_INCREMENT)
        self.compactor = SketchCompactor(redis, _guard)
        self.ship_marks = False     # mark written cells in pt:{s}:dirty (a global tier takes them)
        self._sums = redis.register_script(threshold_merge_redis.SUMS)
        self._union_top = redis.register_script(threshold_merge_redis.UNION_TOP)
        self._top = redis.register_script(threshold_merge_redis.TOP)
        self.exact_reads = {"one": 0, "threshold": 0, "union": 0}    # how exact reads were answered
        self.sketch_reader = SketchReader(redis, limits.sketch_cache_bytes_max, _guard)

    async def apply(self, spec: StreamSpec, events: Sequence[TrendEvent]) -> list[bool]:
        """Counts the events; per event, whether it was fresh (its id not seen within the window)."""
        return await self.apply_columns(spec, EventColumns.of_events(events))

    async def apply_columns(self, spec: StreamSpec, cols: EventColumns, now_ms: int | None = None) -> list[bool]:
        """Dedups the batch's ids, offers its dimension values to their caps (one call, streams with
        dimensions only), then writes the aggregated counts and sketch deltas. A batch whose counts
        fit one call (`lua_increments_max` items, `lua_events_max` ids) is checked first and its ids
        are committed in the same call as its counts: exactly once, so a batch answered 503 (the
        call failed, or the process died before it) leaves no id behind and its retry counts it.
        A larger batch marks its ids first and writes its counts in several calls: a crash between
        them leaves ids marked whose counts are missing (its retry answers "duplicate" for them)."""
        if not len(cols):
            return []
        now = self.clock.now_ms() if now_ms is None else now_ms
        p = _prefix(spec.id)
        if len(cols.ids) > self.limits.lua_events_max:
            return await self._mark_then_write(spec, p, cols, now)
        if await self._commit_unchecked(spec, p, cols, now):
            return [True] * len(cols)
        for _attempt in range(COMMIT_ATTEMPTS_MAX):
            fresh = await self._dedup(p, cols.ids, now, commit=False)
            kept, cells = await self._cells(spec, p, cols, fresh)
            if not len(kept):
                return fresh
            if len(_chunks(cells, self.limits.lua_increments_max)) > 1:
                # too many increments for one call: mark the ids, then write in several calls; the
                # cells are reused unless a concurrent batch counted one of the ids in between
                marked = await self._dedup(p, cols.ids, now)
                if marked != fresh:
                    kept, cells = await self._cells(spec, p, cols, marked)
                await self._write_cells(spec, p, cells)
                return marked
            if await self._commit_cells(spec, p, cells, kept.ids, now):
                return fresh
            # an id of this batch was counted by a concurrent batch in between: dedup again
        raise TrendingStoreError()

    async def _commit_unchecked(self, spec: StreamSpec, p: str, cols: EventColumns, now: int) -> bool:
        """The usual batch in one call: planned as if every id were fresh and every dimension value
        admitted, which the commit call checks before writing anything (False: it was not so, or
        the batch is too large for one call; nothing was written). Only batches planned on the
        event loop (`inline_events_max`) whose ids are distinct are tried: a larger one would plan
        in a thread twice when the guess fails."""
        if len(cols) > self.limits.inline_events_max or len(set(cols.ids)) != len(cols.ids):
            return False
        by_level = plan.levels(spec, cols)
        offers = plan.dim_offers(spec, cols, by_level)
        cells = _cells_with_sketches(spec, cols, by_level, [])
        if len(_chunks(cells, self.limits.lua_increments_max)) > 1:
            return False
        return await self._commit_cells(spec, p, cells, cols.ids, now, offers=offers)

    async def _mark_then_write(self, spec: StreamSpec, p: str, cols: EventColumns, now: int) -> list[bool]:
        fresh = await self._dedup(p, cols.ids, now)
        _kept, cells = await self._cells(spec, p, cols, fresh)
        await self._write_cells(spec, p, cells)
        return fresh

    async def _cells(self, spec: StreamSpec, p: str, cols: EventColumns,
                     fresh: list[bool]) -> tuple[EventColumns, list[tuple[plan.Cell, bytes]]]:
        """The fresh events and their cells (dimension values offered to their caps first)."""
        kept = cols.keep(fresh)
        if not len(kept):
            return kept, []
        if len(kept) <= self.limits.inline_events_max:     # ~1.5 ms for 500 events: less than two thread hops
            by_level = plan.levels(spec, kept)
            refused = await self._admit_values(spec, p, plan.dim_offers(spec, kept, by_level))
            return kept, _cells_with_sketches(spec, kept, by_level, refused)
        by_level = await asyncio.to_thread(plan.levels, spec, kept)
        refused = await self._admit_values(spec, p, plan.dim_offers(spec, kept, by_level))
        return kept, await asyncio.to_thread(_cells_with_sketches, spec, kept, by_level, refused)

    async def _write_cells(self, spec: StreamSpec, p: str, cells: list[tuple[plan.Cell, bytes]]) -> None:
        """The counts and sketch deltas (one call per `lua_increments_max` items), then the
        compaction of sketch lists grown past `sketch_deltas_max`."""
        if not cells:       # every event of the batch was a duplicate
            return
        lengths: list[int] = []
        for chunk in _chunks(cells, self.limits.lua_increments_max):
            packed, blobs = self._packed(spec, p, chunk)
            lengths += await _guard(self._increment(keys=self._increment_keys(p), args=[spec.items_per_bucket_max,
                                                                             _MSGPACK.encode(packed), *blobs]))
        self._compact_long(spec, p, cells, lengths)

    @staticmethod
    def _packed(spec: StreamSpec, p: str, cells: list[tuple[plan.Cell, bytes]]) -> tuple[list[Any], list[bytes]]:
        """The cells as INCREMENT takes them: [buckets, cells] (MessagePack-able; a cell names its
        bucket by 1-based index), and each cell's sketch delta."""
        rows, blobs = [], []
        # a batch's cells share few (resolution, bucket) pairs: their key parts and expiry once each
        retention_ms = {res: spec.kept(res) * res.size_ms + EXPIRY_SLACK_MS for res in spec.resolutions}
        index: dict[tuple[Resolution, int], int] = {}
        buckets: list[tuple[str, str, str, int]] = []
        for cell, blob in cells:
            at = index.get((cell.resolution, cell.start_ms))
            if at is None:
                base = f"{RES_CODE[cell.resolution]}:{cell.start_ms}"
                buckets.append((f"{p}c:{base}:", f"{p}m:{base}", f"{p}k:{base}:",
                                cell.start_ms + retention_ms[cell.resolution]))
                at = index[(cell.resolution, cell.start_ms)] = len(buckets)
            rows.append((at, cell.series, cell.total, list(cell.counts), list(cell.counts.values())))
            blobs.append(blob)
        return [buckets, rows], blobs

    def _compact_long(self, spec: StreamSpec, p: str, cells: list[tuple[plan.Cell, bytes]], lengths: list[Any]) -> None:
        self.compactor.request(spec.id, spec.sketch_lg_size, [
            CompactList(f"{p}k:{_cell_base(cell)}:{cell.series}", int(length), f"{p}m:{_cell_base(cell)}", cell.series)
            for (cell, _blob), length in zip(cells, lengths, strict=True)
            if due(f"{p}k:{_cell_base(cell)}:{cell.series}", int(length), self.limits.sketch_deltas_max)])

    async def _commit_cells(self, spec: StreamSpec, p: str, cells: list[tuple[plan.Cell, bytes]],
                            ids: list[str], now_ms: int, offers: Sequence[plan.DimOffer] = ()) -> bool:
        """One call: the counts and the batch's fresh ids together, with `offers` (dimension values
        not yet admitted) admitted first; False when an id was counted meanwhile or an offer would
        be refused by its cap (nothing written)."""
        id_sets, ttl = self._id_sets(p, now_ms)
        packed, blobs = self._packed(spec, p, cells)
        triples: list[Any] = []
        for res, start, name, value in offers:
            triples += [f"{p}v:{RES_CODE[res]}:{start}:{name}", value,
                        start + spec.kept(res) * res.size_ms + EXPIRY_SLACK_MS]
        lengths = await _guard(self._commit_increment(
            keys=self._increment_keys(p) + id_sets,
            args=[spec.items_per_bucket_max, _MSGPACK.encode(packed), *blobs, spec.dim_values_per_bucket_max,
                  _MSGPACK.encode(triples), len(id_sets), _MSGPACK.encode(ids), ttl]))
        if lengths and int(lengths[0]) < 0:
            return False
        self._compact_long(spec, p, cells, lengths)
        return True

    def _increment_keys(self, p: str) -> list[str]:
        # with a global tier, each written cell is marked for the trending shipper (ship_redis.py)
        return [p + "ver", p + "dirty"] if self.ship_marks else [p + "ver"]

    def _id_sets(self, p: str, now_ms: int) -> tuple[list[str], int]:
        """The id sets inside the dedup window (the current one first) and the current one's TTL."""
        window = self.limits.dedup_window_ms
        slot_ms = max(1, window // DEDUP_SLOTS)
        current = now_ms // slot_ms
        keys = [f"{p}ids:{s}" for s in range(current, (now_ms - window) // slot_ms - 1, -1)]
        return keys, (current + 1) * slot_ms + window + EXPIRY_SLACK_MS - now_ms

    async def _dedup(self, p: str, ids: list[str], now_ms: int, *, commit: bool = True) -> list[bool]:
        """Which ids are fresh; with `commit`, they are marked as counted in the same call."""
        keys, ttl = self._id_sets(p, now_ms)
        fresh = [True] * len(ids)
        step = self.limits.lua_events_max
        for lo in range(0, len(ids), step):
            chunk = ids[lo : lo + step]
            distinct = "1" if len(set(chunk)) == len(chunk) else "0"
            args: list[bytes | str | int] = [ttl, _MSGPACK.encode(chunk), distinct, "1" if commit else "0"]
            for j in await _guard(self._dedup_script(keys=keys, args=args)):
                fresh[lo + int(j)] = False
        return fresh

    async def _admit_values(self, spec: StreamSpec, p: str, offers: list[plan.DimOffer]) -> list[plan.DimOffer]:
        """The offers refused by the per-bucket cap on a dimension's distinct values."""
        if not offers:
            return []
        args: list[Any] = [spec.dim_values_per_bucket_max]
        for res, start, name, value in offers:
            args += [f"{p}v:{RES_CODE[res]}:{start}:{name}", value,
                     start + spec.kept(res) * res.size_ms + EXPIRY_SLACK_MS]
        refused = await _guard(self._admit(keys=[p + "ver"], args=args))
        return [offers[int(j)] for j in refused]

    async def read_exact(self, spec: StreamSpec, buckets: Sequence[Bucket], series: str,
                         k: int) -> tuple[list[tuple[str, int]], int, int]:
        """The top-K (count desc, item asc) of the buckets' merged counts, other and total. The
        buckets merged are the cover's with proven runs replaced by a coarser bucket and empty ones
        left out (exact_cover.py); one bucket's top is read from it, several are merged by the
        threshold merge (threshold_merge.py, bounded by `exact_page_items` x `exact_pages_max`),
        or, when its budget runs out, whole (`ZUNIONSTORE`, logged)."""
        p = _prefix(spec.id)
        counts = await self._bucket_counts(spec, p, [*buckets, *exact_cover.parents(buckets, spec.resolutions)],
                                           series)
        other, total = sum(counts[b].other for b in buckets), sum(counts[b].total for b in buckets)
        zkeys = self.count_keys(spec, exact_cover.merge_plan(buckets, spec.resolutions, counts), series)
        if not zkeys:
            return [], other, total
        if len(zkeys) == 1:
            self.exact_reads["one"] += 1
            return _ranked(await _guard(self._top(keys=zkeys, args=[0, k]))), other, total
        # the merged range is reused only while the stream has had no new batch (its version)
        version = await _guard(self.redis.get(p + "ver")) or b"0"
        union = p + "u:" + hashlib.sha1(version + b"|" + "|".join(zkeys).encode()).hexdigest()
        if not await _guard(self.redis.exists(union)):
            reader = RedisBucketPages(self.redis, self._sums, zkeys, _guard)
            ranked, stats = await threshold_merge.top_k(reader, len(zkeys), k, self.limits.exact_page_items,
                                                        self.limits.exact_pages_max)
            if ranked is not None:
                self.exact_reads["threshold"] += 1
                return [(m.decode(), c) for m, c in ranked], other, total
            self.exact_reads["union"] += 1
            log.warning("trending %s: exact read of %d buckets past the threshold budget (%d pages, "
                        "%d candidates); merging them whole", spec.id, len(zkeys), stats.pages, stats.candidates)
        flat = await _guard(self._union_top(keys=[union, *zkeys], args=[max(1, self.limits.union_ttl_ms), k]))
        return _ranked(flat), other, total

    async def _bucket_counts(self, spec: StreamSpec, p: str, buckets: Sequence[Bucket],
                             series: str) -> dict[Bucket, exact_cover.BucketCounts]:
        """Each bucket's totals of the stream and of the series, "other", and whether a value set of
        the series' dimensions is full (one pipeline)."""
        names = [pair.split("=", 1)[0] for pair in series.split("&")] if series else []
        pipe = self.redis.pipeline(transaction=False)
        for b in buckets:
            pipe.hmget(f"{p}m:{_base(b)}", ["t:", f"t:{series}", f"o:{series}"])
            for name in names:
                pipe.scard(f"{p}v:{_base(b)}:{name}")
        replies = iter(await _guard(pipe.execute()))
        out: dict[Bucket, exact_cover.BucketCounts] = {}
        for b in buckets:
            stream_total, t, o = next(replies)
            full = [int(next(replies)) >= spec.dim_values_per_bucket_max for _ in names]
            out[b] = exact_cover.BucketCounts(int(stream_total or 0), int(t or 0), int(o or 0), any(full))
        return out

    @staticmethod
    def count_keys(spec: StreamSpec, buckets: Sequence[Bucket], series: str) -> list[str]:
        """The sorted sets of exact counts of the buckets' series."""
        return [f"{_prefix(spec.id)}c:{_base(b)}:{series}" for b in buckets]

    async def read_sketch(self, spec: StreamSpec, buckets: Sequence[Bucket], series: str) -> tuple[Any, int]:
        """The merged sketch of the buckets, and their exact total weight (one Lua call; bucket
        sketches and runs' merges kept deserialized per process: sketch_read_redis.py)."""
        merged, total = await self.sketch_reader.read(_prefix(spec.id), [_base(b) for b in buckets],
                                                      [b.resolution for b in buckets], series, spec.sketch_lg_size)
        return merged, total

    async def versions(self, streams: Sequence[str]) -> dict[str, int]:
        """Each stream's batch counter (a pipeline of GETs: the keys live in different slots)."""
        if not streams:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for s in streams:
            pipe.get(_prefix(s) + "ver")
        values = await _guard(pipe.execute())
        return {s: int(v or 0) for s, v in zip(streams, values, strict=True)}

    async def bucket_memory_bytes(self, spec: StreamSpec, bucket: Bucket) -> int:
        """Bytes Redis uses for one bucket of a stream (every series and the sketches)."""
        p = _prefix(spec.id)
        total = 0
        async for key in self.redis.scan_iter(match=f"{p}[cmvk]:{_base(bucket)}*", count=1000):
            total += int(await _guard(self.redis.memory_usage(key)) or 0)
        return total


class StreamRegistry:
    """Declared streams in one Redis hash, cached per process for `refresh_ms`."""

    def __init__(self, redis: AnyRedis, clock: Clock, limits: TrendingSettings, refresh_ms: int = REFRESH_MS) -> None:
        self.redis = redis
        self.clock = clock
        self.limits = limits
        self.refresh_ms = refresh_ms
        self._streams: dict[str, StreamSpec] = {}
        self._loaded_at: float | None = None

    async def refresh(self) -> dict[str, StreamSpec]:
        raw = await _guard(self.redis.hgetall(STREAMS_KEY))
        self._streams = {k.decode(): StreamSpec.from_dict(orjson.loads(v), self.limits) for k, v in raw.items()}
        self._loaded_at = self.clock.monotonic()
        return self._streams

    async def all(self) -> dict[str, StreamSpec]:
        if self._loaded_at is None or (self.clock.monotonic() - self._loaded_at) * 1000 > self.refresh_ms:
            return await self.refresh()
        return self._streams

    async def require(self, stream: str) -> StreamSpec:
        spec = (await self.all()).get(stream) or (await self.refresh()).get(stream)
        if spec is None:
            raise NotFound(f"unknown stream {str(stream)[:64]!r}")
        return spec

    async def create(self, spec: StreamSpec, *, exist_ok: bool = False) -> StreamSpec:
        if len(await self.refresh()) >= self.limits.streams_max and spec.id not in self._streams:
            raise Conflict(f"this region already has {self.limits.streams_max} streams")
        created = await _guard(self.redis.hsetnx(STREAMS_KEY, spec.id, orjson.dumps(spec.to_dict())))
        if not created and not exist_ok:
            raise Conflict(f"stream {spec.id!r} already exists")
        return (await self.refresh())[spec.id]
