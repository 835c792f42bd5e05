"""What a region ships to the global tier for trending (pure): per bucket cell (stream, resolution,
bucket start, series) its exact total, the weight past the item cap, a compact frequent-items
sketch and the exact counts of its top items, with `floor`: no item left out of those counts has
a larger count in the cell (0 when the counts are complete). A cell is the region's whole state
of that bucket (counts only grow), so a newer `version` replaces an older one and resending is
harmless. Bodies are checked as hostile input: every malformed field is a 400, never a 500.

A round's as-of report names its streams by id (`as_of_streams`) instead of re-sending their
declarations, and carries the global store's `generation` the region shipped into: the global tier
records the report only into that same store (a wiped store has a new generation, and the region
re-ships everything before its next report; see region/trending/shipper.py)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from podium.replication.trending_buckets import Resolution
from podium.replication.trending_series import DIM_VALUE_RE, OTHER_VALUE

from podium.errors import BadUserInput

TRENDING_PATH = "/v1/replicate/trending"
STREAM_ID_LEN_MAX = 64
SERIES_LEN_MAX = 1024
GENERATION_LEN_MAX = 64
COUNT_MAX = 2**53       # counts and totals stay exact as floats far below this


@dataclass(frozen=True, slots=True)
class ShippedStream:
    """What the global tier needs of a region's stream declaration."""

    id: str
    dimensions: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    kept: Mapping[Resolution, int]        # buckets kept per resolution
    sketch_lg_size: int
    public_read: bool

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "dimensions": list(self.dimensions), "resolutions": [r.value for r in self.resolutions],
                "kept": {r.value: n for r, n in self.kept.items()}, "sketch_lg_size": self.sketch_lg_size,
                "public_read": self.public_read}

    @classmethod
    def from_wire(cls, raw: Any, lg_size_max: int) -> ShippedStream:
        if not isinstance(raw, dict):
            raise BadUserInput("a shipped stream must be an object")
        sid, dims, res, kept = raw.get("id"), raw.get("dimensions"), raw.get("resolutions"), raw.get("kept")
        lg, public = raw.get("sketch_lg_size"), raw.get("public_read")
        if not _name(sid, STREAM_ID_LEN_MAX):
            raise BadUserInput("stream id must be a non-empty string of at most 64 characters")
        if not isinstance(dims, list) or len(dims) > 8 or not all(_name(d, 32) for d in dims):
            raise BadUserInput("dimensions must be a list of at most 8 names")
        if not isinstance(res, list) or not res or not all(r in Resolution._value2member_map_ for r in res):
            raise BadUserInput("resolutions must be a non-empty list of minute, hour, day")
        resolutions = tuple(sorted({Resolution(r) for r in res}, key=lambda r: -r.size_ms))
        if not isinstance(kept, dict) or not all(r.value in kept and _int(kept[r.value], 1, 1_000_000)
                                                  for r in resolutions):
            raise BadUserInput("kept must give 1..1,000,000 buckets for every resolution")
        if not _int(lg, 3, lg_size_max) or not isinstance(public, bool):
            raise BadUserInput(f"sketch_lg_size must be 3..{lg_size_max}; public_read a boolean")
        assert isinstance(sid, str) and isinstance(lg, int)    # checked above (mypy cannot follow _name/_int)
        return cls(sid, tuple(dims), resolutions, {r: kept[r.value] for r in resolutions}, lg, public)


@dataclass(frozen=True, slots=True)
class TrendCell:
    stream: str
    resolution: Resolution
    start_ms: int
    series: str
    version: int                 # the region stream's batch counter when the cell was read
    total: int                   # weight of every event counted in the cell
    other: int                   # weight past the region's item cap (not in the counts nor the top)
    floor: int                   # every item missing from `counts` has a count <= floor here
    counts: Mapping[str, int]    # exact counts of the cell's top items (all of them when floor == 0)
    sketch: bytes                # serialized frequent-items sketch of the whole cell

    def to_wire(self) -> list[Any]:
        return [self.stream, self.resolution.value, self.start_ms, self.series, self.version, self.total,
                self.other, self.floor, list(self.counts), list(self.counts.values()),
                base64.b64encode(self.sketch).decode()]

    @classmethod
    def from_wire(cls, raw: Any, limits: CellLimits) -> TrendCell:
        if not isinstance(raw, list) or len(raw) != 11:
            raise BadUserInput("a cell must be an array of 11 fields")
        stream, res, start, series, version, total, other, floor, items, counts, sketch = raw
        if not _name(stream, STREAM_ID_LEN_MAX) or res not in Resolution._value2member_map_:
            raise BadUserInput("cell stream or resolution is malformed")
        resolution = Resolution(res)
        if not _int(start, 0, 2**48) or start % resolution.size_ms:
            raise BadUserInput("cell start must be a bucket-aligned Unix ms")
        if not isinstance(series, str) or len(series) > SERIES_LEN_MAX or not _series_ok(series):
            raise BadUserInput("cell series is malformed")
        if not all(_int(v, 0, COUNT_MAX) for v in (version, total, other, floor)):
            raise BadUserInput("cell version, total, other and floor must be integers >= 0")
        if (not isinstance(items, list) or not isinstance(counts, list) or len(items) != len(counts)
                or len(items) > limits.items_max):
            raise BadUserInput(f"cell counts must be two arrays of equal length, at most {limits.items_max}")
        if not all(_name(i, limits.item_len_max) for i in items) or not all(_int(c, 1, COUNT_MAX) for c in counts):
            raise BadUserInput("cell items must be non-empty strings, counts integers >= 1")
        if len(set(items)) != len(items):
            raise BadUserInput("cell items must be distinct")
        if not isinstance(sketch, str) or len(sketch) > limits.sketch_bytes_max:
            raise BadUserInput("cell sketch must be base64 of at most the sketch size limit")
        try:
            blob = base64.b64decode(sketch, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadUserInput("cell sketch is not base64") from exc
        return cls(stream, resolution, start, series, version, total, other, floor, dict(zip(items, counts, strict=True)),
                   blob)


@dataclass(frozen=True, slots=True)
class CellLimits:
    items_max: int
    item_len_max: int
    sketch_bytes_max: int


@dataclass(frozen=True, slots=True)
class TrendingBatch:
    region: str
    as_of_ms: int | None         # everything the region counted before this is in this body or acknowledged ones
    streams: list[ShippedStream]
    cells: list[TrendCell]
    as_of_streams: list[str] | None = None   # the streams the as-of report covers (None: `streams`)
    generation: str | None = None            # the global store the report is for (None: whichever)


def encode(region: str, as_of_ms: int | None, streams: Sequence[ShippedStream], cells: Sequence[TrendCell],
           as_of_streams: Sequence[str] | None = None, generation: str | None = None) -> bytes:
    doc: dict[str, Any] = {"region": region, "as_of": as_of_ms, "streams": [s.to_wire() for s in streams],
                           "cells": [c.to_wire() for c in cells]}
    if as_of_streams is not None:
        doc["as_of_streams"] = list(as_of_streams)
    if generation is not None:
        doc["generation"] = generation
    return orjson.dumps(doc)


def decode(doc: Mapping[str, Any], limits: CellLimits, streams_max: int, cells_max: int,
           lg_size_max: int) -> TrendingBatch:
    """A verified body (its region already matched to the signing key) as typed values."""
    as_of, streams, cells = doc.get("as_of"), doc.get("streams"), doc.get("cells")
    if as_of is not None and not _int(as_of, 0, 2**48):
        raise BadUserInput("as_of must be null or a Unix ms")
    if not isinstance(streams, list) or len(streams) > streams_max:
        raise BadUserInput(f"streams must be an array of at most {streams_max}")
    if not isinstance(cells, list) or len(cells) > cells_max:
        raise BadUserInput(f"cells must be an array of at most {cells_max}")
    shipped = [ShippedStream.from_wire(s, lg_size_max) for s in streams]
    declared = {s.id for s in shipped}
    typed = [TrendCell.from_wire(c, limits) for c in cells]
    if any(c.stream not in declared for c in typed):
        raise BadUserInput("every cell's stream must be in the body's streams")
    as_of_streams, generation = doc.get("as_of_streams"), doc.get("generation")
    if as_of_streams is not None and (not isinstance(as_of_streams, list) or len(as_of_streams) > streams_max
                                      or not all(_name(s, STREAM_ID_LEN_MAX) for s in as_of_streams)):
        raise BadUserInput(f"as_of_streams must be an array of at most {streams_max} stream ids")
    if generation is not None and not _name(generation, GENERATION_LEN_MAX):
        raise BadUserInput(f"generation must be a string of at most {GENERATION_LEN_MAX} characters")
    return TrendingBatch(str(doc["region"]), as_of, shipped, typed, as_of_streams, generation)


def _int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _name(value: object, len_max: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= len_max and "\x00" not in value


def _series_ok(series: str) -> bool:
    if not series:
        return True
    for pair in series.split("&"):
        name, _, value = pair.partition("=")
        if not name or not (DIM_VALUE_RE.match(value) or value == OTHER_VALUE):
            return False
    return True
