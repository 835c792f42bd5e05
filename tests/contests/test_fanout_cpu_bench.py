"""The fan-out CPU bench (`python -m podium.devtools.bench.contest_fanout_cpu`) in a tiny
configuration: the store's fan-out script and the one before it, applied to copies of one indexed
board, update the same teams and leave equal boards (structure, not speed)."""

from __future__ import annotations

import asyncio

from podium.devtools.bench import contest_fanout_cpu


def test_the_scripts_leave_equal_boards() -> None:
    result = asyncio.run(contest_fanout_cpu.run(teams=300, events=4, variants=["before", "now"], chunk=7))
    assert result["teams"] == 300 and result["boards_equal"], result
    before, now = result["variants"]["before"], result["variants"]["now"]
    assert 0 < before["teams"] == now["teams"] < 4 * 300, result
    assert now["redis_cpu_us_per_team"] >= 0 and now["teams_per_s"] > 0
