"""Anti-entropy digests: a board's entries split into buckets by player id; each bucket's digest is
a hash of its sorted (player, score, achieved_at) lines. A region and the global tier compute it
over the same data (the region's own values; the global tier's record of that region's
contributions); buckets that differ are re-announced by the region and shipped again."""

from __future__ import annotations

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Iterable

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


def in_buckets(players: Iterable[str], wanted: Iterable[int], buckets: int = BUCKETS) -> list[str]:
    """The players to re-send for a diff: those that fall in one of the `wanted` buckets."""
    want = set(wanted)
    return sorted(p for p in players if bucket_of(p, buckets) in want)
