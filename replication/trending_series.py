"""Trending series names (pure), shared by the regions and the global tier.

A series is the whole stream ("") or one combination of declared dimension values, written
`mode=ranked&platform=pc` (names sorted)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from podium.errors import BadUserInput

DIM_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
OTHER_VALUE = "~other"       # a dimension value past its bucket's cap (cannot be a real value)


def series_key(dims: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(dims))


def series_for(stream: str, dimensions: Sequence[str], dims: Mapping[str, Any] | None) -> str:
    """The series a query filtering on `dims` reads; unknown dimensions are a 400."""
    if not dims:
        return ""
    if not isinstance(dims, Mapping):
        raise BadUserInput("dims must be an object of dimension name to value")
    pairs = []
    for name, value in dims.items():
        if name not in dimensions:
            raise BadUserInput(f"stream {stream!r} has no dimension {str(name)[:32]!r}")
        if not isinstance(value, str) or not (DIM_VALUE_RE.match(value) or value == OTHER_VALUE):
            raise BadUserInput(f"dimension value must match {DIM_VALUE_RE.pattern}")
        pairs.append((name, value))
    return series_key(pairs)
