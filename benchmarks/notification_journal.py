"""What the notification journal costs per evaluation step (timings live here, never in unit tests).

    python benchmarks/notification_journal.py [--players 100000] [--rules 100] [--ticks 200] [--changes 5000]

The same ticks as `podium bench notifications` (a `--players` board, `--changes` score changes per
tick, the top slice of `--rules` rules), evaluated three ways in one run, each timed in CPU time of
this process plus the redis-server's own CPU (INFO cpu): the evaluation alone (the baseline), the
evaluation plus the journal step (`RedisJournal.record`: notifications pending and the evaluated top,
one MULTI) and the outbox write that clears them (`RedisOutbox.add`, one MULTI), against the same
outbox write without the journal (a plain pipeline of XADDs, as before the journal).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from podium.region.notifications.engine import slice_for
from podium.region.notifications.journal_redis import Baseline, RedisJournal
from podium.region.notifications.outbox_redis import OUTBOX_KEY, RedisOutbox

from podium.config import ApiLimits, NotificationSettings
from podium.devtools.bench.notifications import _rules, _ticks
from podium.notify_evaluate import Coalescer, as_board, evaluate
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis, connect
from podium.redis_server import RedisServer


async def _redis_cpu_s(redis: AnyRedis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _plain_outbox(redis: AnyRedis, notes: list[Notification], maxlen: int) -> None:
    """The outbox write as it was before the journal: XADDs in one non-transactional pipeline."""
    if notes:
        async with redis.pipeline(transaction=False) as pipe:
            for note in notes:
                pipe.xadd(OUTBOX_KEY, {"n": orjson.dumps(note.to_dict())}, maxlen=maxlen, approximate=True)
            await pipe.execute()


async def run(players: int, rules: int, ticks: int, changes: int) -> dict[str, Any]:
    settings = NotificationSettings()
    declared = _rules(rules, settings.top_n_max)
    slice_n = slice_for(declared, settings.top_n_max)
    slices = _ticks(players, ticks, changes, slice_n, random.Random(18))
    ids = frozenset(r.id for r in declared)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=True) as server:
        redis = connect(server.url)
        journal, outbox = RedisJournal(redis, settings.inbox_write_batch_max), RedisOutbox(redis, settings.outbox_len_max)
        try:
            async def one(mode: str) -> tuple[float, float, int]:
                co = Coalescer(settings.coalesce_players_max, settings.overtaken_by_max)
                notes_total = 0
                cpu0, redis0 = time.process_time(), await _redis_cpu_s(redis)
                for i, (before, after) in enumerate(itertools.pairwise(slices)):
                    notes = evaluate(declared, as_board(before), as_board(after), 1_000 * i, f"{mode}{i}", co).notifications
                    notes_total += len(notes)
                    if mode == "journal":
                        await journal.record("bench", Baseline(slice_n, ids, after), notes)
                        await outbox.add(notes)
                    elif mode == "plain":
                        await _plain_outbox(redis, notes, settings.outbox_len_max)
                return (time.process_time() - cpu0, await _redis_cpu_s(redis) - redis0, notes_total)

            results: dict[str, list[tuple[float, float, int]]] = {"evaluate": [], "plain": [], "journal": []}
            for _ in range(3):                   # alternate, so load changes touch every mode alike
                for mode, runs in results.items():
                    runs.append(await one(mode))
        finally:
            await redis.aclose()

    def per_tick_ms(mode: str) -> tuple[float, float]:
        best = min(results[mode], key=lambda r: r[0] + r[1])      # least disturbed of the three
        return round(best[0] / ticks * 1000, 3), round(best[1] / ticks * 1000, 3)

    ev, plain, jour = per_tick_ms("evaluate"), per_tick_ms("plain"), per_tick_ms("journal")
    tick_ms = ApiLimits().tick_ms
    journal_extra = (jour[0] + jour[1]) - (plain[0] + plain[1])
    return {
        "players": players, "rules": rules, "slice": slice_n, "ticks": ticks, "changes_per_tick": changes,
        "notifications_per_tick": round(results["evaluate"][0][2] / ticks, 1),
        "evaluate_ms_per_tick (process, redis)": ev,
        "evaluate_plus_plain_outbox_ms_per_tick": plain,
        "evaluate_plus_journal_and_outbox_ms_per_tick": jour,
        "journal_extra_ms_per_tick": round(journal_extra, 3),
        "journal_extra_core_share_at_tick": round(journal_extra / tick_ms, 4), "tick_ms": tick_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--changes", type=int, default=5_000)
    a = parser.parse_args()
    print(json.dumps(asyncio.run(run(a.players, a.rules, a.ticks, a.changes)), indent=1))


if __name__ == "__main__":
    main()
