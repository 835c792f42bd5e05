"""Indexing a locked contest in large HSCAN pages (more members per player than one ZADD takes)
writes exactly the board and player indexes a brute-force pass over the entries gives."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from podium.region.contests.store_redis import INDEX_ZADD_MEMBERS, RedisContestStore, contest_key

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("scan", [7, 3 * INDEX_ZADD_MEMBERS])
async def test_index_equals_the_oracle(redis_single: Any, scan: int) -> None:
    rnd, entries = random.Random(scan), {}
    for n in range(2 * INDEX_ZADD_MEMBERS + 321):
        picked = rnd.sample([f"p{i}" for i in range(6)], 4)
        mults = {p: rnd.choice([100, 150, 200]) for p in picked}
        entries[f"u{n}/t"] = "1\t" + ",".join(f"{p}={m}" for p, m in sorted(mults.items()))
    await redis_single.hset(contest_key("c", "entries"), mapping=entries)
    await RedisContestStore(redis_single, index_scan_entries=scan).build_index("c")
    oracle: dict[str, dict[bytes, float]] = defaultdict(dict)
    for entry, comp in entries.items():
        for item in comp.split("\t")[1].split(","):
            player, _, mult = item.partition("=")
            oracle[player][entry.encode()] = float(mult)
    for player, members in oracle.items():
        got = dict(await redis_single.zrange(contest_key("c", f"idx:{player}"), 0, -1, withscores=True))
        assert got == members, player
    board = dict(await redis_single.zrange(contest_key("c", "board"), 0, -1, withscores=True))
    assert board == {e.encode(): 0.0 for e in entries}
