"""Deserialized frequent-items sketches kept per process for approximate reads (pure, no I/O).

An approximate read over 30 days covers up to ~160 buckets; deserializing every bucket's sketch
deltas and merging them all on each read was the read's cost. Here each bucket's merged sketch is
kept, with the bucket's exact total as its version, and so is the merge of each run of buckets of
one resolution (all but the run's last bucket, which is the one a live stream keeps changing: the
current minute). A bucket's total grows with every batch that writes it (weights are >= 1) in the
same Lua call that appends its sketch delta, so an unchanged total means an unchanged sketch list; a
late event within the allowed lateness changes a closed bucket's total and so its version. The
entries are bounded by their serialized size (`trending.sketch_cache_bytes_max`), least recently
used first out. Cached sketches are never mutated: a read merges them into a new sketch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasketches import frequent_strings_sketch
from podium.replication import trending_sketch as sketches

ENTRY_BYTES_MIN = 64       # an empty sketch still costs its Python object and preamble


@dataclass(frozen=True)
class Entry:
    version: Any           # a bucket's (total, list length, generation); a run's totals
    sketch: frequent_strings_sketch
    size: int


@dataclass
class SketchCache:
    bytes_max: int
    entries: OrderedDict[Hashable, Entry] = field(default_factory=OrderedDict)
    bytes: int = 0
    hits: int = 0
    misses: int = 0

    def get(self, key: Hashable, version: Hashable) -> frequent_strings_sketch | None:
        entry = self.entries.get(key)
        if entry is None or entry.version != version:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return entry.sketch

    def count(self, key: Hashable, hit: bool) -> None:
        """Counts a lookup decided elsewhere (by Redis comparing versions); a hit is used recently."""
        if not hit:
            self.misses += 1
            return
        self.hits += 1
        if key in self.entries:
            self.entries.move_to_end(key)

    def held(self, key: Hashable) -> Entry | None:
        """The entry kept for `key` whatever its version (its version is sent to Redis)."""
        return self.entries.get(key)

    def put(self, key: Hashable, version: Hashable, sketch: frequent_strings_sketch) -> None:
        size = max(ENTRY_BYTES_MIN, int(sketch.get_serialized_size_bytes()))
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if size > self.bytes_max:
            return
        self.entries[key] = Entry(version, sketch, size)
        self.bytes += size
        while self.bytes > self.bytes_max:
            _key, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.size


def runs(resolutions: Sequence[object]) -> list[tuple[int, int]]:
    """[lo, hi) index ranges of the consecutive buckets of one resolution."""
    out: list[tuple[int, int]] = []
    lo = 0
    for i in range(1, len(resolutions) + 1):
        if i == len(resolutions) or resolutions[i] != resolutions[lo]:
            out.append((lo, i))
            lo = i
    return out


def merge_all(parts: Sequence[frequent_strings_sketch], lg_size: int) -> frequent_strings_sketch:
    """A new sketch holding the merge of `parts` (which are left untouched)."""
    merged = sketches.new(lg_size)
    for part in parts:
        merged = sketches.merge(merged, part)
    return merged


def extend(base: frequent_strings_sketch | None, blobs: Sequence[bytes], lg_size: int) -> frequent_strings_sketch:
    """A new sketch: `base` (left untouched; None for nothing) with the serialized deltas merged in."""
    merged = merge_all([base] if base is not None else [], lg_size)
    for blob in blobs:
        merged = sketches.merge(merged, frequent_strings_sketch.deserialize(blob))
    return merged
