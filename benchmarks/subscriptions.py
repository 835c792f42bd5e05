"""Subscription fan-out: deliveries per server CPU-second and push lag, Podium vs a naive
resolver-per-subscriber Strawberry server (benchmarks/naive_subscriptions_server.py), same run.

Subscribers come from the native load generator (benchmarks/wsload, Go; `--client go`, the default),
one process apart from the server's. A writer posts one score per round (spaced wider than a tick, so
each round is one update); push lag is the time from the score's own timestamp (`achievedAt`, taken
just before the write is posted) to a subscriber receiving the update. Without a Go toolchain the run
falls back to the Python clients (`--client light`, labelled `python-fallback` in the result; their
lag is from the write's HTTP acknowledgement), which share the server's cores and so measure
themselves as much as the server.

    python benchmarks/subscriptions.py --subscribers 2000 [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import websockets

from podium.devtools.testing import ServerProcess
from podium.devtools.ws_client import Subscriber
from podium.redis_server import RedisServer, free_port
from podium.signing import signed_headers

KEY_ID, SECRET, ADMIN = "bench", "bench-secret", "bench-admin"
BOARD = "bench-subs"
# `achievedAt` is the load generator's lag stamp (the largest in a message: the new leader's)
PODIUM_Q = ("subscription($b:String!){ topChanged(board:$b, n:10){ seq changes { player rank achievedAt } "
            "entries { player } } }")
NAIVE_Q = "subscription($b:String!){ topChanged(board:$b, n:10){ player rank achievedAt } }"
LISTEN_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 60
ROUND_S = 0.6
CONNECT_ATTEMPTS = 5
CONNECT_CONCURRENCY = 100    # handshakes in flight per client process (they need no Redis: podium.rate_limit_local)
CONNECT_CONCURRENCY_LIGHT = 100   # the light client's handshakes in flight per process (more only queue behind the server's CPU and time out)
CONNECT_CONCURRENCY_GO = 400      # the Go client's handshakes in flight (the 4 Python processes' 4 x 100)


def _client_proc(url: str, query: str, count: int, rounds: int, out: Any, ready: Any, go: Any) -> None:
    """One client process: `count` subscribers; reports each update's receive time per round."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def main() -> list[list[float]]:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        retries = 0

        async def one() -> Subscriber:
            nonlocal retries
            async with gate:
                for attempt in range(CONNECT_ATTEMPTS):
                    try:
                        sub = await Subscriber(url).connect()
                        break
                    except (OSError, TimeoutError, EOFError, websockets.WebSocketException) as exc:
                        # a refused (429 RATE_LIMITED, Retry-After) or timed-out handshake is retried, and counted
                        if attempt == CONNECT_ATTEMPTS - 1:
                            raise RuntimeError(f"connect failed {CONNECT_ATTEMPTS} times: {exc!r}") from exc
                        retries += 1
                        await asyncio.sleep(1.0)
                await sub.subscribe(query, {"b": BOARD})
                await sub.next()  # the initial state
                return sub

        subs = await asyncio.gather(*(one() for _ in range(count)))
        ready.put(retries)
        await asyncio.to_thread(go.wait)       # every client process is connected: rounds start
        received: list[list[float]] = [[] for _ in range(rounds)]

        async def listen(sub: Subscriber) -> None:
            for r in range(rounds):
                try:
                    await asyncio.wait_for(sub.next(), LISTEN_TIMEOUT_S)
                except TimeoutError:
                    return          # a saturated server: the rest of this subscriber's rounds count as missed
                received[r].append(time.time())

        await asyncio.gather(*(listen(s) for s in subs))
        out.put((received, 0))       # before closing: the server's CPU is measured up to here, not its teardown
        await asyncio.gather(*(s.close() for s in subs), return_exceptions=True)
        return received

    asyncio.run(main())


def _light_client_proc(url: str, query: str, count: int, rounds: int, out: Any, ready: Any, go: Any,
                       started: Any, start: Any) -> None:
    """One client process of light subscribers (benchmarks/subscriptions_client.py) on uvloop. It
    says when it is up (`started`) and connects only on `start`, so the connect storm is timed from
    the moment every client process fires together."""
    import uvloop
    from subscriptions_client import connect  # beside this file (the spawned child's sys.path[0])

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parsed = httpx.URL(url)
    host, port, path = parsed.host, parsed.port or 80, parsed.raw_path.decode()

    async def main() -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY_LIGHT)
        retries = 0

        async def one() -> Any:
            nonlocal retries
            async with gate:
                for attempt in range(CONNECT_ATTEMPTS):
                    try:
                        return await connect(host, port, path, query, {"b": BOARD}, CONNECT_TIMEOUT_S)
                    except (OSError, TimeoutError) as exc:
                        # a refused (429 RATE_LIMITED) or timed-out handshake is retried, and counted
                        if attempt == CONNECT_ATTEMPTS - 1:
                            raise RuntimeError(f"connect failed {CONNECT_ATTEMPTS} times: {exc!r}") from exc
                        retries += 1
                        await asyncio.sleep(1.0)
            raise AssertionError("unreachable")

        started.put(os.getpid())
        await asyncio.to_thread(start.wait)
        t0, cpu0 = time.monotonic(), time.process_time()
        subs = await asyncio.gather(*(one() for _ in range(count)))
        ready.put((retries, time.monotonic() - t0, time.process_time() - cpu0))
        for s in subs:
            s.want = rounds
        await asyncio.to_thread(go.wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.got_all for s in subs)), rounds * ROUND_S + LISTEN_TIMEOUT_S)
        received: list[list[float]] = [[] for _ in range(rounds)]
        for s in subs:
            for r, t in enumerate(s.times[:rounds]):
                received[r].append(t)
        out.put((received, sum(s.errors for s in subs)))       # before closing: the server's CPU is measured up to here, not its teardown
        for s in subs:
            s.close()
        await asyncio.sleep(0.5)

    uvloop.run(main())


def _post(base: str, player: str, score: int) -> None:
    body = json.dumps({"entries": [{"board": BOARD, "player": player, "score": score,
                                    "achieved_at": time.time_ns() // 10**6, "event_id": f"{player}-{score}"}]}).encode()
    headers = signed_headers(KEY_ID, SECRET, "POST", "/v1/scores", time.time_ns() // 10**6, body)
    httpx.post(f"{base}/v1/scores", content=body, headers=headers, timeout=30).raise_for_status()


def _get(queue: Any, procs: list[Any], deadline: float) -> Any:
    """The next report of a client process; fails fast when one died instead of waiting out the timeout."""
    while True:
        try:
            return queue.get(timeout=1)
        except Exception:  # queue.Empty
            if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise RuntimeError("a client process failed to connect its subscribers") from None


def _measure(server_pid: int, ws_url: str, query: str, subscribers: int, rounds: int, write: Any,
             clients: int, light: bool = True) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    started, start = ctx.Queue(), ctx.Event()
    per = [subscribers // clients + (1 if i < subscribers % clients else 0) for i in range(clients)]
    if light:
        procs = [ctx.Process(target=_light_client_proc, args=(ws_url, query, n, rounds, out, ready, go, started, start))
                 for n in per if n]
    else:
        procs = [ctx.Process(target=_client_proc, args=(ws_url, query, n, rounds, out, ready, go)) for n in per if n]
    for p in procs:
        p.start()
    if light:   # every client process is up before the storm starts: connect_s is the server's, not Python's start-up
        for _ in procs:
            _get(started, procs, time.monotonic() + 300)
    connect_cpu0 = _cpu(server_pid)
    start.set()
    connect_started = time.monotonic()
    deadline = time.monotonic() + 900
    retries = 0
    storm_s = client_cpu_s = 0.0
    for _ in procs:
        got = _get(ready, procs, deadline)
        if light:
            retries += got[0]
            storm_s = max(storm_s, got[1])
            client_cpu_s += got[2]
        else:
            retries += got
    connect_s = storm_s if light else time.monotonic() - connect_started
    connect_cpu_ms = (_cpu(server_pid) - connect_cpu0) * 1000 / subscribers   # server CPU per connect+subscribe
    go.set()
    time.sleep(0.5)
    cpu0 = _cpu(server_pid)
    acks = []
    for r in range(rounds):
        write(r)
        acks.append(time.time())
        time.sleep(ROUND_S)   # > 2 ticks: one update per round
    reports = [out.get(timeout=300) for _ in procs]
    cpu = _cpu(server_pid) - cpu0
    for p in procs:
        p.join(timeout=30)
    results = [received for received, _errors in reports]
    lags = [t - acks[r] for res in results for r, times in enumerate(res) for t in times]
    deliveries = len(lags)
    lags = lags or [float("nan")]
    return {"subscribers": subscribers, "expected": subscribers * rounds, "connect_s": round(connect_s, 1), "connect_retries": retries,
            "connect_server_cpu_ms_each": round(connect_cpu_ms, 2),
            # the client processes' CPU over the storm per subscriber (light client only): on a
            # shared 2-core machine the storm's wall time is bounded by server + client CPU together
            "connect_client_cpu_ms_each": round(client_cpu_s * 1000 / subscribers, 2) if light else None,
            "deliveries": deliveries, "error_frames": sum(errors for _received, errors in reports), "server_cpu_s": round(cpu, 3),
            "deliveries_per_cpu_s": round(deliveries / cpu) if cpu else None,
            "lag_ms_p50": round(float(np.percentile(lags, 50)) * 1000, 1),
            "lag_ms_p99": round(float(np.percentile(lags, 99)) * 1000, 1)}


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording the server (and its workers) until SIGINT: collapsed stacks in `out`."""
    import shutil

    exe = shutil.which("py-spy")
    if exe is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen([exe, "record", "-p", str(pid), "-o", str(out), "-f", "raw", "--nonblocking", "-s",
                            "-r", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)      # attached before the storm starts
    return spy if spy.poll() is None else None     # None: py-spy may not attach here


def _stop_spy(spy: subprocess.Popen[bytes] | None) -> None:
    import signal

    if spy is not None and spy.poll() is None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=120)
        except subprocess.TimeoutExpired:
            spy.kill()


def _measure_go(server_pid: int, ws_url: str, query: str, subscribers: int, rounds: int, write: Any,
                concurrency: int, rate_per_s: float, profile: Path | None = None) -> dict[str, Any]:
    """One measurement with the native load generator: one Go process for every subscriber, or
    several when that exceeds a process's open-file hard limit (their figures merged).
    `profile`: py-spy records the server over the connect storm (collapsed stacks)."""
    from podium.devtools.bench.subscriptions_wsload import WsLoad, processes_for

    procs = processes_for(subscribers)
    per = [subscribers // procs + (1 if i < subscribers % procs else 0) for i in range(procs)]
    spy = _py_spy(server_pid, profile) if profile is not None else None
    base = ws_url.replace("ws://", "http://", 1).rsplit("/", 1)[0]
    gc_cpu0 = _gc_cpu_s(base)
    connect_cpu0 = _cpu(server_pid)
    with contextlib.ExitStack() as stack:
        loads = [stack.enter_context(WsLoad(ws_url, query, {"b": BOARD}, n, concurrency=max(1, concurrency // procs),
                                            rate_per_s=rate_per_s / procs, messages=rounds,
                                            listen_timeout_s=rounds * ROUND_S + LISTEN_TIMEOUT_S,
                                            connect_timeout_s=CONNECT_TIMEOUT_S, attempts=CONNECT_ATTEMPTS, raw=True))
                 for n in per]
        clients = [psutil.Process(load.process.pid) for load in loads if load.process is not None]
        connected = [load.connected() for load in loads]
        connect_cpu_ms = (_cpu(server_pid) - connect_cpu0) * 1000 / subscribers
        connect_gc_ms = (_gc_cpu_s(base) - gc_cpu0) * 1000 / subscribers
        client_cpu_s = sum(sum(c.cpu_times()[:2]) for c in clients)
        _stop_spy(spy)
        failed = sum(c["failed"] for c in connected)
        if failed:
            errors = [c["connect_errors"] for c in connected if c["failed"]]
            raise RuntimeError(f"{failed} of {subscribers} subscribers failed to connect: {json.dumps(errors)[:400]}")
        time.sleep(0.5)
        cpu0 = _cpu(server_pid)
        for r in range(rounds):
            write(r)
            time.sleep(ROUND_S)   # > 2 ticks: one update per round
        done = [load.done() for load in loads]
        cpu = _cpu(server_pid) - cpu0
    deliveries = sum(d["deliveries"] for d in done)
    lags = [x for d in done for x in d["lag_ms_raw"]]
    initial = [x for d in done for x in d["initial_state_ms_raw"]]
    ack = [x for d in done for x in d["ack_ms_raw"]]

    def pct(xs: list[float], p: float) -> float | None:
        return round(float(np.percentile(xs, p)), 1) if xs else None

    return {"subscribers": subscribers, "expected": subscribers * rounds, "load_processes": procs,
            "connect_s": round(max(d["connect_s"] for d in done), 1),
            "connect_retries": sum(d["connect_retries"] for d in done),
            "connect_server_cpu_ms_each": round(connect_cpu_ms, 2),
            "connect_gc_cpu_ms_each": round(connect_gc_ms, 3),
            "connect_client_cpu_ms_each": round(client_cpu_s * 1000 / subscribers, 3),
            "connect_ms_p50": pct(initial, 50), "connect_ms_p99": pct(initial, 99), "ack_ms_p99": pct(ack, 99),
            "deliveries": deliveries, "error_frames": sum(d["error_frames"] for d in done),
            "server_cpu_s": round(cpu, 3), "deliveries_per_cpu_s": round(deliveries / cpu) if cpu else None,
            "lag_from": "achievedAt",
            "lag_ms_p50": pct(lags, 50), "lag_ms_p99": pct(lags, 99), "lag_ms_max": max(lags) if lags else None}


def _gc_cpu_s(base: str) -> float:
    """The server's cyclic-collector CPU seconds so far (`podium_gc_cpu_seconds`, every generation;
    with --workers N: whichever worker answered)."""
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{base}/metrics", timeout=30)
    if response.status_code != 200:      # the naive server has no metrics
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(response.text) if f.name == "podium_gc_cpu_seconds"
               for s in f.samples if s.name.endswith("_total"))


def _cpu(pid: int) -> float:
    """User + system seconds of the server and its worker processes (`--workers N`)."""
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def run(subscribers: int = 2000, seconds: float | None = None, rounds: int = 10, clients: int = 4,
        naive: bool = True, workers: int = 1, loop: str = "asyncio", client: str = "go",
        naive_subscribers: int | None = None, server_env: dict[str, str] | None = None,
        connect_concurrency: int = CONNECT_CONCURRENCY_GO, connect_rate_per_s: float = 0.0,
        profile_connect: Path | None = None) -> dict[str, Any]:
    """The harness entry point (`podium bench`): `seconds` of writes, one round per ROUND_S, else `rounds`."""
    if seconds is not None:
        rounds = max(1, round(seconds / ROUND_S))
    client_label = client
    if client == "go":
        from podium.devtools.bench.subscriptions_wsload import WsLoadUnavailable, wsload_binary

        try:
            wsload_binary()          # built (cached) before any server starts
        except WsLoadUnavailable as exc:
            client, client_label = "light", f"python-fallback ({exc})"

    def measure(pid: int, url: str, query: str, n: int, write: Any) -> dict[str, Any]:
        if client == "go":
            return _measure_go(pid, url, query, n, rounds, write, connect_concurrency, connect_rate_per_s,
                               profile_connect if query == PODIUM_Q else None)
        return {**_measure(pid, url, query, n, rounds, write, clients, client == "light"), "lag_from": "write ack"}
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp) / "redis", appendonly=False).start()
        try:
            env = {"REDIS_URL": redis.url, "PODIUM_GAME_SERVER_KEYS": json.dumps({KEY_ID: SECRET}),
                   "PODIUM_ADMIN_KEYS": json.dumps([ADMIN]), "PODIUM_BOARDS": json.dumps([{"id": BOARD}]),
                   "PODIUM_API__SUBSCRIPTIONS_PER_PROCESS_MAX": str(subscribers + 100),
                   "PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000",
                   **(server_env or {})}
            result: dict[str, Any] = {}
            with ServerProcess(env, cwd=tmp, workers=workers, loop=loop) as podium:
                for i in range(10):
                    _post(podium.url, f"seed{i}", i)
                result["server"] = {"workers": workers, "loop": loop, "client": client_label,
                                    "client_processes": 1 if client == "go" else clients, "env": server_env or {}}
                result["podium"] = measure(podium.process.pid, podium.ws_url, PODIUM_Q, subscribers,
                                           lambda r: _post(podium.url, f"leader{r}", 1000 + r))
                result["podium"]["fairness"] = _fairness(podium.url)
                print("podium:", json.dumps(result["podium"]), file=sys.stderr, flush=True)
                if naive:
                    port = free_port()
                    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("naive_subscriptions_server.py")),
                                             "--port", str(port), "--redis-url", redis.url], cwd=tmp)
                    try:
                        _wait_port(port)
                        result["naive"] = measure(proc.pid, f"ws://127.0.0.1:{port}/graphql", NAIVE_Q,
                                                  naive_subscribers or subscribers,
                                                  lambda r: _post(podium.url, f"naive{r}", 5000 + r))
                    except RuntimeError as exc:
                        # the baseline saturating (its clients time out) must not lose Podium's figures
                        result["naive"] = {"status": "failed", "error": str(exc)[:500]}
                    finally:
                        proc.terminate()
                        proc.wait(timeout=15)
            if naive and result["naive"].get("deliveries_per_cpu_s"):
                result["ratio_deliveries_per_cpu_s"] = round(
                    result["podium"]["deliveries_per_cpu_s"] / result["naive"]["deliveries_per_cpu_s"], 2)
            return result
        finally:
            redis.stop()


def _fairness(base: str) -> dict[str, Any]:
    """The hub's fairness metrics after the run (docs/subscriptions.md "Fairness under overload"):
    subscriber-ticks coalesced, and the p99 bucket of one tick's delivery to every push subscriber
    and of the tick's computation. With --workers N: whichever worker answered."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base}/metrics", timeout=30).text
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "podium_subscription_coalesced_frames":
            out["coalesced_frames"] = sum(s.value for s in family.samples if s.name.endswith("_total"))
        elif family.name in ("podium_subscription_tick_delivery_milliseconds", "podium_fanout_tick_duration_milliseconds"):
            buckets = sorted((float(s.labels["le"]), s.value) for s in family.samples if s.name.endswith("_bucket"))
            total = buckets[-1][1] if buckets else 0
            p99: float | str | None = next((le for le, n in buckets if total and n >= 0.99 * total), None)
            if p99 == float("inf"):      # above the largest bucket: said so (JSON has no Infinity)
                p99 = f"> {max(le for le, _n in buckets if le != float('inf')):g}"
            short = "tick_delivery" if "delivery" in family.name else "tick_compute"
            out[f"{short}_count"], out[f"{short}_p99_bucket_ms"] = total, p99
    return out


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 120   # a loaded machine starts Python slowly
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/graphql", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("baseline server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--naive-subscribers", type=int, default=None,
                        help="subscribers of the naive baseline (default: --subscribers); at 10,000 it exhausts "
                             "its Redis pool and its subscribers fail")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for Podium's server (A/B runs), e.g. PODIUM_API__GC_FREEZE_SURVIVORS=false")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--client", choices=["go", "light", "websockets"], default="go",
                        help="go: the native load generator (benchmarks/wsload); light / websockets: the Python "
                             "client processes (light: hand-parsed frames on uvloop, benchmarks/subscriptions_client.py)")
    parser.add_argument("--connect-concurrency", type=int, default=CONNECT_CONCURRENCY_GO,
                        help="go client: handshakes in flight (0: every subscriber at once, a storm)")
    parser.add_argument("--connect-rate", type=float, default=0.0, help="go client: connections started per second (0: unbounded)")
    parser.add_argument("--profile-connect", type=Path, default=None, metavar="FILE",
                        help="go client: py-spy records Podium's server over the connect storm (collapsed stacks)")
    args = parser.parse_args()
    print(json.dumps(run(args.subscribers, rounds=args.rounds, clients=args.clients, naive=not args.no_naive,
                         workers=args.workers, loop=args.loop, client=args.client,
                         naive_subscribers=args.naive_subscribers,
                         server_env=dict(kv.split("=", 1) for kv in args.server_env),
                         connect_concurrency=args.connect_concurrency, connect_rate_per_s=args.connect_rate,
                         profile_connect=args.profile_connect), indent=2))


if __name__ == "__main__":
    main()
