"""A game-server client: buffers scores and posts signed batches to `POST /v1/scores`, retrying with
exponential backoff and jitter while reusing each batch's Idempotency-Key (so a retry never applies
a batch twice). Each attempt is signed afresh: a replayed signature is rejected by design."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Self

import httpx
import orjson
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from podium.clock import Clock, SystemClock
from podium.signing import signed_headers

SCORES_PATH = "/v1/scores"


class BufferFull(Exception):
    """More scores are buffered than `buffer_entries_max`: flush first."""


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableStatus | httpx.TransportError)


@dataclass
class ScoreEvent:
    board: str
    player: str
    score: int
    achieved_at: int
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board, "player": self.player, "score": self.score,
                "achieved_at": self.achieved_at, "event_id": self.event_id}


class GameServerClient:
    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        batch_entries_max: int = 1000,
        buffer_entries_max: int = 100_000,
        attempts_max: int = 6,
        backoff_s_max: float = 5.0,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.key_id = key_id
        self.secret = secret
        self.batch_entries_max = batch_entries_max
        self.buffer_entries_max = buffer_entries_max
        self.attempts_max = attempts_max
        self.backoff_s_max = backoff_s_max
        self.clock = clock or SystemClock()
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._buffer: list[ScoreEvent] = []

    def add(self, board: str, player: str, score: int, *, achieved_at: int | None = None,
            event_id: str | None = None) -> None:
        if len(self._buffer) >= self.buffer_entries_max:
            raise BufferFull(f"{len(self._buffer)} scores buffered; flush() first")
        self._buffer.append(ScoreEvent(board, player, score, achieved_at if achieved_at is not None
                                       else self.clock.now_ms(), event_id or uuid.uuid4().hex))

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def flush(self) -> list[dict[str, Any]]:
        """Post everything buffered, in batches; returns each batch's response."""
        responses = []
        while self._buffer:
            batch = self._buffer[: self.batch_entries_max]
            responses.append(await self.post_batch([e.to_dict() for e in batch]))
            del self._buffer[: len(batch)]
        return responses

    async def post_batch(self, entries: list[dict[str, Any]], idempotency_key: str | None = None) -> dict[str, Any]:
        body = orjson.dumps({"entries": entries})
        idem = idempotency_key or uuid.uuid4().hex
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.attempts_max),
            wait=wait_random_exponential(multiplier=0.1, max=self.backoff_s_max),
            retry=retry_if_exception(_retryable),
            reraise=True,
        ):
            with attempt:
                headers = signed_headers(self.key_id, self.secret, "POST", SCORES_PATH, self.clock.now_ms(), body)
                headers["Idempotency-Key"] = idem
                headers["Content-Type"] = "application/json"
                response = await self.http.post(SCORES_PATH, content=body, headers=headers)
                if response.status_code in (409, 429) or response.status_code >= 500:
                    raise RetryableStatus(response)
                response.raise_for_status()
                return response.json()  # type: ignore[no-any-return]
        raise AssertionError("unreachable: tenacity reraises")

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self.flush()
        finally:
            await self.aclose()
