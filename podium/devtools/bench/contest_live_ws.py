"""Contest live ticks over websockets: `contestChanged` subscribers in separate client processes
(the light graphql-transport-ws client of the subscriptions bench, one socket and one subscription
each) on a `podium serve` process, while the bench feeds real-world events into the contest.

Each frame's tick lag is its receive time minus its `asOf` (the tick that built it; one machine,
one clock). Two phases on the same sockets, one after the other: a baseline where each event moves
one entry (no fan-out), then the fan-out events (each moves every team holding the player). The
server's CPU seconds are read per phase (psutil), so a profile (py-spy) can be matched to them."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from podium.devtools.testing import ServerProcess

QUERY = "subscription($c:String!){ contestChanged(contest:$c, n:10){ seq asOf changes { player rank } } }"
CONNECT_TIMEOUT_S = 120
CONNECT_CONCURRENCY = 100     # handshakes in flight per client process
SUBSCRIBERS_PER_CLIENT_MIN = 500   # fewer client processes when there are fewer subscribers than this each
BENCH_DIR = Path(__file__).resolve().parents[3] / "benchmarks"


def _as_of_ms(payload: bytes) -> float | None:
    at = payload.find(b'"asOf":"')
    if at < 0:
        return None
    end = payload.find(b'"', at + 8)
    return datetime.fromisoformat(payload[at + 8:end].decode()).timestamp() * 1000


def _client_proc(host: str, port: int, contest: str, count: int, started: Any, ready: Any, stop: Any,
                 out: Any) -> None:
    """`count` subscribers; sends back (receive ms, lag ms) of every frame after the initial ones."""
    import uvloop

    sys.path.insert(0, str(BENCH_DIR))
    from subscriptions_client import LightSubscriber  # the subscriptions bench's light client

    frames: list[tuple[float, float]] = []
    ends: list[float] = []      # when a subscription got an error or was completed by the server

    class Timed(LightSubscriber):  # type: ignore[misc]
        def _frame(self, opcode: int, payload: bytes) -> None:
            if opcode == 0x1 and self.initial and (b'"errors"' in payload or b'"type":"error"' in payload
                                                   or b'"type":"complete"' in payload):
                ends.append(time.time() * 1000)
                return
            if opcode == 0x1 and self.initial and b'"type":"next"' in payload:
                now = time.time() * 1000
                as_of = _as_of_ms(payload)
                if as_of is not None:
                    frames.append((now, now - as_of))
                return
            super()._frame(opcode, payload)

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one() -> Any:
            async with gate:
                _t, proto = await asyncio.wait_for(loop.create_connection(
                    lambda: Timed(f"{host}:{port}", "/graphql", QUERY, {"c": contest}), host, port), CONNECT_TIMEOUT_S)
                await asyncio.wait_for(asyncio.shield(proto.ready), CONNECT_TIMEOUT_S)
                return proto

        started.put(1)
        subs = await asyncio.gather(*(one() for _ in range(count)))
        ready.put(len(subs))
        await asyncio.to_thread(stop.wait)
        out.put((frames, ends))
        for s in subs:
            s.close()
        await asyncio.sleep(0.2)

    uvloop.run(main())


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def _cpu(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


async def measure(redis_url: str, contest: str, subscribers: int, tick_ms: int, clients: int,
                  phases: list[tuple[str, float, Callable[[], Awaitable[int]]]],
                  profile_dir: Path | None = None) -> dict[str, Any]:
    """Starts a region server on `redis_url`, connects `subscribers` to `contest` from `clients`
    processes, then runs each phase (name, seconds, run: returns the events fed). Per phase: frames,
    tick lag p50/p99/max and the server's CPU seconds. `profile_dir`: py-spy records the server
    during each phase (collapsed stacks per phase, when py-spy may attach)."""
    env = {"REDIS_URL": redis_url, "PODIUM_CONTESTS__TICK_MS": str(tick_ms),
           "PODIUM_API__SUBSCRIPTIONS_PER_PROCESS_MAX": str(subscribers + 100),
           "PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000"}
    clients = max(1, min(clients, -(-subscribers // SUBSCRIBERS_PER_CLIENT_MIN)))   # a tiny run starts one
    ctx = mp.get_context("spawn")
    started, ready, out, stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    per = [subscribers // clients + (1 if i < subscribers % clients else 0) for i in range(clients)]
    result: dict[str, Any] = {"subscribers": subscribers, "client_processes": clients, "tick_ms": tick_ms}
    with ServerProcess(env) as server:
        procs = [ctx.Process(target=_client_proc, args=("127.0.0.1", server.port, contest, n, started, ready, stop, out))
                 for n in per if n]
        for p in procs:
            p.start()
        try:
            t0 = time.monotonic()
            for _ in procs:
                await asyncio.to_thread(started.get, True, 300)
            connected = 0
            for _ in procs:
                connected += await asyncio.to_thread(ready.get, True, CONNECT_TIMEOUT_S * max(1, subscribers // 500))
            result["connect_s"] = round(time.monotonic() - t0, 1)
            result["connected"] = connected
            await asyncio.sleep(3 * tick_ms / 1000)
            bounds = []
            for name, seconds, run in phases:
                spy = _py_spy(server.process.pid, seconds, profile_dir / f"{name}.txt") if profile_dir else None
                cpu0, start = _cpu(server.process.pid), time.time() * 1000
                fed = await run()
                await asyncio.sleep(2 * tick_ms / 1000)       # the last events' frames
                end = time.time() * 1000
                bounds.append((name, start, end, fed, _cpu(server.process.pid) - cpu0))
                if spy is not None:
                    await asyncio.to_thread(spy.wait, 120)
            stop.set()
            frames, ends = [], []
            for _ in procs:
                got_frames, got_ends = await asyncio.to_thread(out.get, True, 300)
                frames += got_frames
                ends += got_ends
        finally:
            stop.set()
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()
    for name, start, end, fed, cpu in bounds:
        lags = [lag for at, lag in frames if start <= at < end]
        # Per tick (frames sharing an asOf): the first frame's lag is the tick's board read and
        # first write, the spread from first to last frame is the push to every socket.
        ticks: dict[int, list[float]] = {}
        for at, lag in frames:
            if start <= at < end:
                ticks.setdefault(round(at - lag), []).append(lag)
        firsts = [min(v) for v in ticks.values()]
        reached = [len(v) for v in ticks.values()]
        spreads = [max(v) - min(v) for v in ticks.values()]
        result[name] = {"events_fed": fed, "seconds": round((end - start) / 1000, 1), "frames": len(lags),
                        "tick_lag_ms_p50": _pct(lags, 0.5), "tick_lag_ms_p99": _pct(lags, 0.99),
                        "tick_lag_ms_max": _pct(lags, 1.0), "server_cpu_s": round(cpu, 2), "ticks": len(ticks),
                        "first_frame_lag_ms_p50": _pct(firsts, 0.5), "first_frame_lag_ms_p99": _pct(firsts, 0.99),
                        "push_spread_ms_p50": _pct(spreads, 0.5), "push_spread_ms_p99": _pct(spreads, 0.99),
                        # subscribers a tick reached (of `subscribers`) and subscriptions the server
                        # ended (error or complete) in the phase: lags only count frames that arrived
                        "subscribers_per_tick_p50": _pct([float(n) for n in reached], 0.5),
                        "subscribers_per_tick_min": min(reached) if reached else None,
                        "subscriptions_ended": sum(1 for at in ends if start <= at < end)}
    print(json.dumps({"live_ws": result}), file=sys.stderr, flush=True)
    return result


def _py_spy(pid: int, seconds: float, svg: Path) -> Any:
    import shutil
    import subprocess

    exe = shutil.which("py-spy")
    if exe is None:
        return None
    svg.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-o", str(svg),
                             "--nonblocking", "-s", "-f", "raw"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
