"""Group commit for the ledger: transactions posted within a short window share one store
transaction, so joins are not limited by one commit each. Bounded: at most `pending_max` waiting."""

from __future__ import annotations

import asyncio
import contextlib

from podium.region.contests.ledger import TRANSACTIONS_PER_CALL_MAX, Ledger, PostResult, Transaction

from podium.errors import Unavailable


class LedgerBatcher:
    def __init__(self, ledger: Ledger, window_ms: float = 2.0, pending_max: int = 100_000) -> None:
        self.ledger = ledger
        self.window_s = window_ms / 1000
        self.pending_max = pending_max
        self._pending: list[tuple[Transaction, asyncio.Future[PostResult]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def post(self, txn: Transaction) -> PostResult:
        if len(self._pending) >= self.pending_max:
            raise Unavailable("the ledger is behind: too many postings waiting", retryAfter=1)
        future: asyncio.Future[PostResult] = asyncio.get_running_loop().create_future()
        self._pending.append((txn, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        return await future

    async def post_many(self, txns: list[Transaction]) -> list[PostResult | BaseException]:
        """Posts `txns` in the same group commit; one result (or the store's error) per transaction."""
        if len(self._pending) + len(txns) > self.pending_max:
            raise Unavailable("the ledger is behind: too many postings waiting", retryAfter=1)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[PostResult]] = [loop.create_future() for _ in txns]
        self._pending.extend(zip(txns, futures, strict=True))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.window_s)
        while self._pending:
            batch = self._pending[:TRANSACTIONS_PER_CALL_MAX]
            del self._pending[:len(batch)]
            try:
                results = await self.ledger.post([t for t, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter gets the store's error, none hangs
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
