"""Stream declarations (pure): what a trending stream keeps, for how long, and its limits."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from podium.replication.trending_buckets import Resolution

from podium.config import TrendingSettings
from podium.errors import BadUserInput

STREAM_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DIM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_INT_FIELDS = ("minute_buckets_kept", "hour_buckets_kept", "day_buckets_kept", "items_per_bucket_max",
               "dim_values_per_bucket_max", "lateness_ms", "sketch_lg_size")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream: events counted per item in minute/hour/day buckets, per declared dimension."""

    id: str
    dimensions: tuple[str, ...] = ()
    resolutions: tuple[Resolution, ...] = (Resolution.DAY, Resolution.HOUR, Resolution.MINUTE)
    minute_buckets_kept: int = 2880          # how many buckets of each resolution stay queryable
    hour_buckets_kept: int = 840
    day_buckets_kept: int = 400
    items_per_bucket_max: int = 100_000      # beyond: the weight counts as "other" in that bucket
    dim_values_per_bucket_max: int = 100     # beyond: the value is replaced by OTHER_VALUE
    lateness_ms: int = 600_000               # events older than this on arrival are rejected
    sketch_lg_size: int = 10                 # approximate answers: epsilon = 3.5 / (0.75 * 2^lg)
    public_read: bool = True

    def kept(self, resolution: Resolution) -> int:
        return {Resolution.MINUTE: self.minute_buckets_kept, Resolution.HOUR: self.hour_buckets_kept,
                Resolution.DAY: self.day_buckets_kept}[resolution]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dimensions"] = list(self.dimensions)
        out["resolutions"] = [r.value for r in self.resolutions]
        return out

    @classmethod
    def from_dict(cls, data: Any, limits: TrendingSettings) -> StreamSpec:
        """A validated spec from untrusted JSON: every field typed and within the settings' ceilings."""
        if not isinstance(data, dict):
            raise BadUserInput("a stream must be a JSON object")
        known = {"id", "dimensions", "resolutions", "public_read", *_INT_FIELDS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadUserInput(f"unknown stream field(s) {unknown[:5]}")
        sid = data.get("id")
        if not isinstance(sid, str) or not STREAM_ID_RE.match(sid):
            raise BadUserInput(f"stream id must match {STREAM_ID_RE.pattern}")
        dims = data.get("dimensions", [])
        if not isinstance(dims, list) or not all(isinstance(d, str) and DIM_NAME_RE.match(d) for d in dims):
            raise BadUserInput(f"dimensions must be a list of names matching {DIM_NAME_RE.pattern}")
        if len(set(dims)) != len(dims) or len(dims) > limits.dimensions_per_stream_max:
            raise BadUserInput(f"dimensions must be distinct, at most {limits.dimensions_per_stream_max}")
        res = data.get("resolutions", ["minute", "hour", "day"])
        if not isinstance(res, list) or not res or not all(isinstance(r, str) for r in res):
            raise BadUserInput("resolutions must be a non-empty list of minute, hour, day")
        try:
            resolutions = tuple(sorted({Resolution(r) for r in res}, key=lambda r: -r.size_ms))
        except ValueError as exc:
            raise BadUserInput("resolutions must be a non-empty list of minute, hour, day") from exc
        ints: dict[str, int] = {}
        ceilings = {"minute_buckets_kept": limits.minute_buckets_kept_max,
                    "hour_buckets_kept": limits.hour_buckets_kept_max,
                    "day_buckets_kept": limits.day_buckets_kept_max,
                    "items_per_bucket_max": limits.items_per_bucket_max,
                    "dim_values_per_bucket_max": limits.dim_values_per_bucket_max,
                    "lateness_ms": limits.lateness_ms_max, "sketch_lg_size": limits.sketch_lg_size_max}
        floors = {"sketch_lg_size": 3, "lateness_ms": 0}
        for name in _INT_FIELDS:
            if name not in data:
                continue
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadUserInput(f"{name} must be an integer")
            low = floors.get(name, 1)
            if not low <= value <= ceilings[name]:
                raise BadUserInput(f"{name} must be between {low} and {ceilings[name]}")
            ints[name] = value
        public = data.get("public_read", True)
        if not isinstance(public, bool):
            raise BadUserInput("public_read must be a boolean")
        spec = cls(sid, tuple(dims), resolutions, public_read=public, **ints)
        if Resolution.MINUTE in spec.resolutions and spec.lateness_ms >= spec.minute_buckets_kept * 60_000:
            raise BadUserInput("lateness_ms must be shorter than the minute retention")
        return spec
