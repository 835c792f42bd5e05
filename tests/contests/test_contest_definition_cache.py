"""A contest's definition is read once for everyone who asks while it is read or cached (the
subscriptions' connect storm, the joins): 200 concurrent callers make one Redis read, an unknown
contest gives each of them NOT_FOUND, and the cache expires after DEFINITION_TTL_MS. Real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.model import Contest
from podium.region.contests.service import DEFINITION_TTL_MS, ContestService
from podium.region.contests.store_redis import RedisContestStore

from podium.clock import FakeClock
from podium.errors import NotFound
from tests.contests.test_contests_oracle import contest_doc, match_doc

pytestmark = pytest.mark.anyio


class CountingStore(RedisContestStore):
    """The real store, counting its contest reads."""

    reads = 0

    async def contest(self, contest_id: str) -> tuple[Contest, str]:
        self.reads += 1
        await asyncio.sleep(0.01)  # the read stays in flight while the others arrive
        return await super().contest(contest_id)


async def test_concurrent_callers_share_one_read(redis_single: Any, tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    await ledger.open()
    clock = FakeClock()
    store = CountingStore(redis_single)
    svc = ContestService(store, LedgerBatcher(ledger), clock)
    await svc.declare_match(match_doc("m", clock.now_ms() + 3_600_000))
    created = await svc.create_contest(contest_doc("c", "m"))
    store.reads = 0

    got = await asyncio.gather(*(svc.contest_definition("c") for _ in range(200)))
    assert store.reads == 1 and all(c == created for c in got)
    assert await svc.contest_definition("c") == created and store.reads == 1  # cached

    missing = await asyncio.gather(
        *(svc.contest_definition("nope") for _ in range(50)), return_exceptions=True
    )
    assert store.reads == 2 and all(isinstance(e, NotFound) for e in missing), missing
    with pytest.raises(NotFound):  # an error is not cached
        await svc.contest_definition("nope")
    assert store.reads == 3

    clock.advance(DEFINITION_TTL_MS)  # expired: read again, once
    again = await asyncio.gather(*(svc.contest_definition("c") for _ in range(20)))
    assert store.reads == 4 and all(c == created for c in again)
    assert not svc._contests_loading  # nothing left in flight
    await svc.aclose()
    await ledger.close()
