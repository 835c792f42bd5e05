"""Indexing a locked contest in large pages (more members per player than one command takes),
in small ones, and resumed after a stop part-way (as after a crash), writes exactly the board and
player indexes a brute-force pass over the entries gives: every entry once."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from podium.region.contests.store_redis import INDEX_ZADD_MEMBERS, RedisContestStore, contest_key

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("scan", "stop_after"), [(7, None), (3 * INDEX_ZADD_MEMBERS, None), (7, ("scan", 40)),
                                                  (500, ("scan", 3)), (500, ("rank", 2)), (7, ("rank", 100))])
async def test_index_equals_the_oracle(redis_single: Any, scan: int, stop_after: tuple[str, int] | None) -> None:
    rnd, entries = random.Random(scan), {}
    for n in range(2 * INDEX_ZADD_MEMBERS + 321):
        picked = rnd.sample([f"p{i}" for i in range(6)], 4)
        mults = {p: rnd.choice([100, 150, 200]) for p in picked}
        entries[f"u{n}/t"] = "1\t" + ",".join(f"{p}={m}" for p, m in sorted(mults.items()))
    await redis_single.hset(contest_key("c", "entries"), mapping=entries)
    if stop_after is not None:          # a first run stops part-way; a second one (another process) resumes
        first, (step, pages) = RedisContestStore(redis_single, index_scan_entries=scan), stop_after
        while step == "rank" and not (await redis_single.get(contest_key("c", "idxcur")) or b"").startswith(b"rank:"):
            assert not await first.index_page("c")
        for _ in range(pages):
            assert not await first.index_page("c")
    await RedisContestStore(redis_single, index_scan_entries=scan).build_index("c")
    await RedisContestStore(redis_single, index_scan_entries=scan).build_index("c")     # a re-run adds nothing
    oracle: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    for entry, comp in entries.items():
        for item in comp.split("\t")[1].split(","):
            player, _, mult = item.partition("=")
            oracle[player].append((entry.encode(), mult.encode()))
    for player, members in oracle.items():
        flat = await redis_single.lrange(contest_key("c", f"idx:{player}"), 0, -1)
        got = list(zip(flat[1::2], flat[::2], strict=True))
        assert got == sorted(members), player        # every entry once, in the board's (entry) order
    board = dict(await redis_single.zrange(contest_key("c", "board"), 0, -1, withscores=True))
    assert board == {e.encode(): 0.0 for e in entries}
