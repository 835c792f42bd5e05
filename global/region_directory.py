"""The region directory the global tier publishes: every region it knows a URL for
(`global.region_urls`), with its health, so game servers and clients can find their regions and
skip unhealthy ones (`GameServerClient.from_directory`).

Health is the global tier's own view: each region's `/readyz` is probed every
`global.directory_probe_ms` through that region's circuit breaker (`region:<name>`, the same breaker
STRONG and SESSION reads go through). A region is healthy when its breaker is closed and its last
probe answered ready; `replicationStale` says whether its changes reach the global tier in time
(a region can serve writes while its replication lags)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from podium.breaker import Breakers, BreakerState
from podium.clock import Clock
from podium.errors import Unavailable

log = logging.getLogger("podium.global.directory")


@dataclass
class Probe:
    ready: bool = False
    checked_ms: int | None = None       # last probe (any outcome)
    ready_ms: int | None = None         # last probe that answered ready
    detail: str = "not probed yet"


def breaker_name(region: str) -> str:
    return f"region:{region}"


class RegionDirectory:
    def __init__(self, region_urls: dict[str, str], breakers: Breakers, clock: Clock, *,
                 probe_timeout_ms: int) -> None:
        self.region_urls = region_urls
        self.breakers = breakers
        self.clock = clock
        self.probe_timeout_ms = probe_timeout_ms
        self.probes: dict[str, Probe] = {name: Probe() for name in region_urls}
        self.http = httpx.AsyncClient(timeout=probe_timeout_ms / 1000)

    async def _probe(self, region: str, url: str) -> None:
        probe = self.probes.setdefault(region, Probe())

        async def readyz() -> httpx.Response:
            try:
                response = await self.http.get(f"{url}/readyz")
            except httpx.HTTPError as exc:    # as Unavailable, so the breaker counts it
                raise Unavailable(f"region {region!r} unreachable: {exc.__class__.__name__}") from exc
            if response.status_code >= 500:
                raise Unavailable(f"region {region!r} not ready: HTTP {response.status_code}")
            return response

        now = self.clock.now_ms()
        try:
            await self.breakers.call(breaker_name(region), readyz, timeout_ms=self.probe_timeout_ms)
            probe.ready, probe.ready_ms, probe.detail = True, now, "ready"
        except Unavailable as exc:
            probe.ready, probe.detail = False, str(exc)[:200]
        probe.checked_ms = now

    async def probe_all(self) -> None:
        await asyncio.gather(*(self._probe(r, u) for r, u in sorted(self.region_urls.items())))

    async def run(self, stop: asyncio.Event, probe_ms: int) -> None:
        while not stop.is_set():
            await self.probe_all()
            try:
                await asyncio.wait_for(stop.wait(), probe_ms / 1000)
            except TimeoutError:
                pass

    def healthy(self, region: str) -> bool:
        probe = self.probes.get(region)
        state = self.breakers.get(breaker_name(region)).state(self.clock.now_ms())
        return probe is not None and probe.ready and state is BreakerState.CLOSED

    def entries(self, replication_stale: dict[str, bool]) -> list[dict[str, Any]]:
        """The directory, healthy regions first (then by name): the order a client should try them."""
        now = self.clock.now_ms()
        rows = []
        for region, url in self.region_urls.items():
            probe = self.probes.get(region, Probe())
            rows.append({
                "region": region, "url": url, "healthy": self.healthy(region),
                "circuit": self.breakers.get(breaker_name(region)).state(now).value,
                "checkedMs": probe.checked_ms, "readyMs": probe.ready_ms, "detail": probe.detail,
                "replicationStale": replication_stale.get(region),
            })
        rows.sort(key=lambda row: (not row["healthy"], row["region"]))
        return rows

    async def aclose(self) -> None:
        await self.http.aclose()
