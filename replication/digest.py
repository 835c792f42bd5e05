"""Anti-entropy digests: a board's entries split into buckets by player id; each bucket's digest is
a hash of its sorted (player, score, achieved_at) lines. A region and the global tier compute it
over the same data (the region's own values; the global tier's record of that region's
contributions); buckets that differ are re-announced by the region and shipped again."""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping

from podium.replication import vectors
from podium.replication.merge import RegionalWrite

BUCKETS = 64


def bucket_of(player: str, buckets: int = BUCKETS) -> int:
    return zlib.crc32(player.encode()) % buckets


def digests(entries: Iterable[tuple[str, int, int]], buckets: int = BUCKETS) -> list[str]:
    """One hex digest per bucket over (player, score, achieved_at_ms) rows, order-independent."""
    lines: dict[int, list[bytes]] = defaultdict(list)
    for player, score, ts in entries:
        lines[bucket_of(player, buckets)].append(f"{player}\t{score}\t{ts}".encode())
    out = []
    for b in range(buckets):
        h = hashlib.sha256()
        for line in sorted(lines.get(b, ())):
            h.update(line + b"\n")
        out.append(h.hexdigest()[:16])
    return out


def differing(a: list[str], b: list[str]) -> list[int]:
    if len(a) != len(b):
        raise ValueError("digests of different bucket counts cannot be compared")
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


# Version-vector states (replication.merge). The same bucketing, over a canonical line per entry
# that includes every region's write and vector, so two sides agree on a bucket iff they hold the
# same states for every player in it. A differing bucket is repaired by sending its entries'
# states both ways and merging: merge is a join, so the exchange can only move both sides up.


def state_line(player: str, state: Mapping[str, RegionalWrite]) -> str:
    parts = [f"{w.region}={w.score},{w.achieved_at_ms},{vectors.encode(w.vector)}"
             for _, w in sorted(state.items())]
    return f"{player}|{';'.join(parts)}"


def state_digests(states: Mapping[str, Mapping[str, RegionalWrite]], buckets: int = BUCKETS) -> list[str]:
    """One hex digest per bucket of a board's {player: EntryState}, order-independent."""
    lines: dict[int, list[bytes]] = defaultdict(list)
    for player, state in states.items():
        if state:
            lines[bucket_of(player, buckets)].append(state_line(player, state).encode())
    out = []
    for b in range(buckets):
        h = hashlib.sha256()
        for line in sorted(lines.get(b, ())):
            h.update(line + b"\n")
        out.append(h.hexdigest()[:16])
    return out


def in_buckets(players: Iterable[str], wanted: Iterable[int], buckets: int = BUCKETS) -> list[str]:
    """The players to re-send for a diff: those that fall in one of the `wanted` buckets."""
    want = set(wanted)
    return sorted(p for p in players if bucket_of(p, buckets) in want)
