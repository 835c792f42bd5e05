"""A game-server client: buffers scores and posts signed batches to `POST /v1/scores`.

Delivery. Every batch gets one Idempotency-Key, reused by every retry in every region, and each
attempt is signed afresh (a replayed signature is rejected by design). A batch is retried with
jittered exponential backoff until `deadline_s` (default 3 minutes: long enough to ride out a
region restart or a Redis failover); past it `DeliveryFailed` is raised and the batch stays in the
buffer. A batch the region refuses for good (4xx other than 409-pending and 429) raises
`BatchRejected`. Nothing is ever dropped silently.

Regions. The client takes an ordered list of region URLs; the first is home (or builds it from the
global tier's region directory: `from_directory`, docs/operations.md). A region that cannot
have applied the batch (connection refused or timed out before sending, or 503: its store is
unavailable) is marked down for `region_down_s` and the batch moves at once to the next region.
Away from home, home's `/readyz` is probed every `failback_s` and the client returns when it
answers. Failures after the request was sent (connection lost, 500/502/504, read timeout) leave the
batch *in doubt*: it is retried in the same region, whose idempotency store answers the retry with
the first outcome, so it applies at most once there.

What crosses regions. Idempotency keys and event-id deduplication are per region. A batch moved to
another region after an in-doubt failure may therefore be applied in both (counted in
`stats.in_doubt_failovers`, logged). For `best` and `latest` boards this is harmless: the same
event yields the same value in the global merge. For `increment` (counter) boards the event is
counted once per region that applied it, so the global total can exceed the truth by that batch;
a batch moved after a clean failure (refused connection, 503) is never double counted."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from podium.client_regions import RegionList, directory_order
from podium.clock import Clock, SystemClock
from podium.signing import signed_headers

SCORES_PATH = "/v1/scores"
log = logging.getLogger("podium.client")
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)   # the region never saw the request
IN_DOUBT_STATUSES = frozenset({500, 502, 504})


class ClientError(Exception):
    """Base of the client's errors."""


class BufferFull(ClientError):
    """More scores are buffered than `buffer_entries_max`: flush first."""


class BatchRejected(ClientError):
    """The region refused the batch for good (bad signature, malformed, key reused for another batch)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}: {response.text[:500]}")
        self.response = response


class DeliveryFailed(ClientError):
    """No region took the batch before the deadline; it is still buffered (flush() again later)."""

    def __init__(self, idempotency_key: str, entries: int, deadline_s: float) -> None:
        super().__init__(f"batch {idempotency_key} ({entries} entries) not delivered within {deadline_s:.0f} s")
        self.idempotency_key = idempotency_key


class _Retry(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)


@dataclass
class ClientStats:
    attempts: int = 0
    failovers: int = 0
    failbacks: int = 0
    in_doubt_failovers: int = 0   # batches moved to another region after a failure that left them in doubt


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
        base_urls: str | Sequence[str],
        key_id: str,
        secret: str,
        *,
        batch_entries_max: int = 1000,
        buffer_entries_max: int = 100_000,
        deadline_s: float = 180.0,
        backoff_s_max: float = 5.0,
        timeout_s: float = 10.0,
        region_down_s: float = 10.0,
        failback_s: float = 5.0,
        probe_timeout_s: float = 1.0,
        clock: Clock | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self.key_id = key_id
        self.secret = secret
        self.batch_entries_max = batch_entries_max
        self.buffer_entries_max = buffer_entries_max
        self.deadline_s = deadline_s
        self.probe_timeout_s = probe_timeout_s
        self.clock = clock or SystemClock()
        self.regions = RegionList(urls, self.clock, down_s=region_down_s, failback_s=failback_s)
        # `http` (tests: a transport that loses responses) serves home; each region has its own pool.
        self.http = [http or httpx.AsyncClient(base_url=urls[0], timeout=timeout_s)] + [
            httpx.AsyncClient(base_url=u, timeout=timeout_s) for u in urls[1:]]
        self.stats = ClientStats()
        self._jitter = wait_random_exponential(multiplier=0.1, max=backoff_s_max)
        self._retry_now = False
        self._buffer: list[ScoreEvent] = []

    @classmethod
    async def from_directory(cls, global_url: str, key_id: str, secret: str, *, home: str | None = None,
                             directory_timeout_s: float = 5.0, **options: Any) -> GameServerClient:
        """A client whose regions come from the global tier's region directory (`GET /v1/directory`):
        `home` (a region name; default the directory's first) first, the others healthy first. When
        home is unhealthy now, batches start at the first healthy region and home is probed for
        failback. `options` are the constructor's."""
        async with httpx.AsyncClient(timeout=directory_timeout_s) as http:
            response = await http.get(f"{global_url.rstrip('/')}/v1/directory")
            response.raise_for_status()
        urls, start = directory_order(response.json()["regions"], home)
        client = cls(urls, key_id, secret, **options)
        if start:
            client.regions.start_away(start)
            log.warning("home region %s is unhealthy in the directory; batches start at %s", urls[0], urls[start])
        return client

    def add(self, board: str, player: str, score: int, *, achieved_at: int | None = None,
            event_id: str | None = None) -> None:
        if len(self._buffer) >= self.buffer_entries_max:
            raise BufferFull(f"{len(self._buffer)} scores buffered; flush() first")
        self._buffer.append(ScoreEvent(board, player, score, achieved_at if achieved_at is not None
                                       else self.clock.now_ms(), event_id or uuid.uuid4().hex))

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def region_url(self) -> str:
        """The region batches go to now."""
        return self.regions.url

    async def flush(self) -> list[dict[str, Any]]:
        """Post everything buffered, in batches; returns each batch's response. A batch leaves the
        buffer only once a region answered it; on an error the rest stays buffered."""
        responses = []
        while self._buffer:
            batch = self._buffer[: self.batch_entries_max]
            responses.append(await self.post_batch([e.to_dict() for e in batch]))
            del self._buffer[: len(batch)]
        return responses

    async def post_batch(self, entries: list[dict[str, Any]], idempotency_key: str | None = None) -> dict[str, Any]:
        body = orjson.dumps({"entries": entries})
        idem = idempotency_key or uuid.uuid4().hex
        in_doubt_at: int | None = None   # the region that may have applied this batch already
        try:
            async for attempt in AsyncRetrying(stop=stop_after_delay(self.deadline_s), wait=self._wait,
                                               retry=retry_if_exception_type(_Retry), reraise=True):
                with attempt:
                    await self._maybe_fail_back()
                    region = self.regions.active
                    try:
                        return await self._attempt(body, idem)
                    except _Retry as retry:
                        if str(retry) == "in-doubt":
                            in_doubt_at = region
                        elif str(retry) == "region-down":
                            self._fail_over(idem, in_doubt_at)
                        raise
        except (_Retry, httpx.HTTPError) as exc:
            raise DeliveryFailed(idem, len(entries), self.deadline_s) from exc
        raise AssertionError("unreachable: tenacity reraises")

    async def _attempt(self, body: bytes, idem: str) -> dict[str, Any]:
        """One signed POST to the active region; raises _Retry("region-down" | "in-doubt" | "later")."""
        self.stats.attempts += 1
        headers = signed_headers(self.key_id, self.secret, "POST", SCORES_PATH, self.clock.now_ms(), body)
        headers["Idempotency-Key"] = idem
        headers["Content-Type"] = "application/json"
        try:
            response = await self.http[self.regions.active].post(SCORES_PATH, content=body, headers=headers)
        except NOT_SENT as exc:
            raise _Retry("region-down") from exc
        except httpx.TransportError as exc:
            raise _Retry("in-doubt") from exc
        status = response.status_code
        if status == 503:
            raise _Retry("region-down")
        if status in IN_DOUBT_STATUSES:
            raise _Retry("in-doubt")
        if status == 429 or (status == 409 and _passes(response)):
            raise _Retry("later")
        if status >= 400:
            raise BatchRejected(response)
        return response.json()  # type: ignore[no-any-return]

    def _fail_over(self, idem: str, in_doubt_at: int | None) -> None:
        left = self.regions.url
        if not self.regions.mark_down():
            return  # every region is down: back off, then start over from home
        self.stats.failovers += 1
        self._retry_now = True
        if in_doubt_at is not None and in_doubt_at != self.regions.active:
            self.stats.in_doubt_failovers += 1
            log.warning("batch %s may have been applied in %s before it failed; now sent to %s "
                        "(a counter board could count it twice)", idem, self.regions.urls[in_doubt_at],
                        self.regions.url)
        log.warning("region %s unavailable; batches go to %s", left, self.regions.url)

    async def _maybe_fail_back(self) -> None:
        if not self.regions.failback_due():
            return
        try:
            ready = await self.http[0].get("/readyz", timeout=self.probe_timeout_s)
        except httpx.HTTPError:
            return
        if ready.status_code == 200:
            self.regions.go_home()
            self.stats.failbacks += 1
            log.warning("home region %s is back; batches return to it", self.regions.url)

    def _wait(self, state: RetryCallState) -> float:
        if self._retry_now:   # moved to another region: no reason to wait
            self._retry_now = False
            return 0.0
        return float(self._jitter(state))

    async def aclose(self) -> None:
        for http in self.http:
            await http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self.flush()
        finally:
            await self.aclose()


def _passes(response: httpx.Response) -> bool:
    """A 409 that says when to retry (the same batch still being processed), not a reused key."""
    try:
        doc = response.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("error"), dict) and "retryAfter" in doc["error"]
