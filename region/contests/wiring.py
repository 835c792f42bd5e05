"""Builds the contest front of a region from its settings: the Redis store on the region's Redis,
the ledger (PostgreSQL when `contests.ledger_url` is set, else SQLite in the data dir), the signer."""

from __future__ import annotations

from podium.region.contests.ledger import Ledger
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_postgres import PostgresLedger
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.service import ContestService, SettlementSigner
from podium.region.contests.store_redis import RedisContestStore

from podium.clock import Clock
from podium.config import Settings
from podium.redis_client import AnyRedis


def build_ledger(settings: Settings) -> Ledger:
    url = settings.contests.ledger_url
    if url and url.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(url)
    return SqliteLedger(settings.data_dir / settings.region / "contests-ledger.db")


def signer_of(settings: Settings) -> SettlementSigner | None:
    keys = settings.game_server_keys
    key_id = settings.contests.settlement_key_id or (min(keys) if keys else None)
    return SettlementSigner(key_id, keys[key_id]) if key_id and key_id in keys else None


async def open_contests(settings: Settings, redis: AnyRedis, clock: Clock) -> ContestService:
    ledger = build_ledger(settings)
    await ledger.open()
    batcher = LedgerBatcher(ledger, settings.contests.ledger_commit_window_ms, settings.contests.ledger_pending_max)
    return ContestService(RedisContestStore(redis), batcher, clock, signer_of(settings))


async def close_contests(contests: ContestService) -> None:
    await contests.ledger.aclose()
    await contests.ledger.ledger.close()
