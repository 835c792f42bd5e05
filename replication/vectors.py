"""Version vectors {region: counter}: how the global tier tells causally ordered writes from
concurrent ones, and how a SESSION token says "you must have seen at least this".

A missing region counts as 0, so {} is the bottom element and vectors form a join-semilattice
under `merge` (per-region max): merge is commutative, associative and idempotent.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from enum import StrEnum

import orjson

from podium.invariant import invariant

VersionVector = Mapping[str, int]
TOKEN_BYTES_MAX = 4096  # a session token is small; a larger one is rejected before decoding


class Ordering(StrEnum):
    BEFORE = "before"          # a happened before b (b dominates a, a != b)
    AFTER = "after"            # a happened after b
    EQUAL = "equal"
    CONCURRENT = "concurrent"  # neither dominates: the writes did not see each other


def normalized(v: VersionVector) -> dict[str, int]:
    """Drop zero entries so equal vectors compare and encode equal."""
    invariant(all(c >= 0 for c in v.values()), "version vector counters are non-negative")
    return {r: c for r, c in sorted(v.items()) if c > 0}


def dominates(a: VersionVector, b: VersionVector) -> bool:
    """a >= b in every region: a state at `a` has seen every write counted in `b`."""
    return all(a.get(r, 0) >= c for r, c in b.items())


def compare(a: VersionVector, b: VersionVector) -> Ordering:
    ab, ba = dominates(a, b), dominates(b, a)
    if ab and ba:
        return Ordering.EQUAL
    if ab:
        return Ordering.AFTER
    if ba:
        return Ordering.BEFORE
    return Ordering.CONCURRENT


def merge(a: VersionVector, b: VersionVector) -> dict[str, int]:
    out = dict(normalized(a))
    for r, c in b.items():
        if c > out.get(r, 0):
            out[r] = c
    return normalized(out)


def increment(v: VersionVector, region: str) -> dict[str, int]:
    """The vector of a new write in `region` that has seen `v`."""
    return normalized({**v, region: v.get(region, 0) + 1})


def encode(v: VersionVector) -> str:
    """URL-safe token text: base64url of canonical JSON (sorted keys, no zeros, no padding)."""
    raw = orjson.dumps(normalized(v), option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str) -> dict[str, int]:
    """Inverse of `encode`; raises ValueError on anything that is not a valid vector."""
    if len(token) > TOKEN_BYTES_MAX:
        raise ValueError("version vector token too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"malformed version vector token: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(r, str) and type(c) is int and c >= 0 for r, c in data.items()
    ):
        raise ValueError("version vector token must map region ids to non-negative integers")
    return normalized(data)
