"""Where a paced read's tail latency comes from: the client's view (wrk, paced) against the server's
own (its request histogram and CPU), with `/healthz` paced the same way as the floor.

    python -m podium.devtools.bench.read_paced --players 100000 --rate 1000 --seconds 10

For each target (`/healthz`, then the top-100 GraphQL read with the same body every time, as the
bench's paced line sends it, then with every body distinct so each request executes) it runs wrk
paced at `--rate` with the bench's connections and prints: wrk's p50/p99 and achieved rate; the
server's CPU per request and share of one core; and the server's own histogram of the time a
request spends inside the app (`podium_http_request_duration`), as the share of requests above
each bucket bound. A client p99 far above the server's in-app p99, with `/healthz` paced alike
just as slow, is time spent outside the app: the load generator, the kernel's scheduling on a
busy machine, or the event loop busy with something other than requests (`--spy` takes py-spy
dumps of the server during the top-100 run to see what)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from podium.devtools.bench import stack as stack_module
from podium.devtools.bench import wrk
from podium.devtools.bench.read_profile import cpu_seconds, summarize
from podium.devtools.bench.read_queries import TOP100, post_script
from podium.devtools.bench.read_wrk import PACED_CONNECTIONS, paced
from podium.devtools.bench.scenarios import _load_boards
from podium.devtools.bench.stack import BenchStack

HISTOGRAM = "podium_http_request_duration_milliseconds_bucket"


def server_histogram(url: str) -> dict[float, float]:
    """Cumulative counts per bucket bound (ms) of the server's in-app request time, every route."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(HISTOGRAM + "{"):
            labels, _, value = line.rpartition(" ")
            bound = labels.split('le="', 1)[1].split('"', 1)[0]
            key = float("inf") if bound == "+Inf" else float(bound)
            out[key] = out.get(key, 0.0) + float(value)
    return out


def tail(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """The run's requests (after - before) and the share of them slower than each bound."""
    counts = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in after}
    total = counts.get(float("inf"), 0.0)
    shares = {f"over_{b:g}ms_pct": round(100 * (total - c) / total, 2) for b, c in sorted(counts.items())
              if total and b != float("inf") and b in (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)}
    return {"requests": int(total), **shares}


def spy_dumps(pid: int, count: int, every_s: float) -> list[str]:
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return ["py-spy not available"]
    out = []
    for _ in range(count):
        time.sleep(every_s)
        done = subprocess.run([spy, "dump", "--pid", str(pid), "--nonblocking"], capture_output=True, text=True,
                              timeout=60, check=False)
        out.append(done.stdout[-3000:])
    return out


def measure(stack: BenchStack, name: str, url: str, script: str, rate: float, seconds: float) -> dict[str, Any]:
    assert stack.process is not None
    pid = stack.process.pid
    before, cpu_before = server_histogram(stack.url), cpu_seconds(pid)
    run = wrk.run(url, paced(script, rate, PACED_CONNECTIONS), seconds=seconds, connections=PACED_CONNECTIONS)
    cpu = cpu_seconds(pid) - cpu_before
    after = server_histogram(stack.url)
    return {"target": name, "load": os.getloadavg()[0], "client": run,
            "server_cpu_ms_per_request": round(1000 * cpu / max(1, run["requests"]), 3),
            "server_core_share": round(cpu / max(run["seconds"], 1e-9), 3), "server_in_app": tail(before, after)}


def profile_target(stack: BenchStack, url: str, script: str, seconds: float) -> dict[str, Any]:
    """wrk flat out (16 connections) at one target while py-spy samples the server."""
    assert stack.process is not None
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return {"profile": "py-spy not available"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        sampler = subprocess.Popen([spy, "record", "--pid", str(stack.process.pid), "--duration", str(round(seconds)),
                                    "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu_before = cpu_seconds(stack.process.pid)
        load = wrk.run(url, script, seconds=seconds, connections=16)
        load["server_cpu_ms_per_request"] = round(1000 * (cpu_seconds(stack.process.pid) - cpu_before)
                                                  / max(1, load["requests"]), 3)
        sampler.wait(seconds + 30)
        text = out.read_text() if out.exists() else ""
    return {"wrk": load, "profile": summarize(text, 45) if text else "no samples"}


def flat(stack: BenchStack, url: str, script: str, seconds: float) -> dict[str, Any]:
    """wrk flat out (16 connections): rate, latency and the server's CPU per request."""
    assert stack.process is not None
    cpu_before = cpu_seconds(stack.process.pid)
    run = wrk.run(url, script, seconds=seconds, connections=16)
    run["server_cpu_ms_per_request"] = round(1000 * (cpu_seconds(stack.process.pid) - cpu_before)
                                             / max(1, run["requests"]), 3)
    return run


# The servers compared in one run: settings (PODIUM_* variables) over the bench stack's, and serve options.
SERVERS: dict[str, tuple[dict[str, str], list[str]]] = {
    "default": ({}, []), "uvloop": ({}, ["--loop", "uvloop"]),
    "no_response_cache": ({"PODIUM_API__RESPONSE_CACHE_TTL_MS": "0"}, []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="paced rate (0: no paced runs)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--servers", nargs="*", default=["default"], choices=list(SERVERS))
    parser.add_argument("--flat", action="store_true", help="also each target flat out (16 connections)")
    parser.add_argument("--spy", action="store_true", help="py-spy dumps during a paced top-100 run")
    parser.add_argument("--profile", nargs="*", default=[], help="targets to profile flat out (py-spy record)")
    parser.add_argument("--only", nargs="*", default=None, help="targets to measure (default: all)")
    args = parser.parse_args()
    stack_module.START_TIMEOUT_S = max(stack_module.START_TIMEOUT_S, 180.0)
    stacks: dict[str, BenchStack] = {}
    try:
        for label in args.servers:
            env, serve_args = SERVERS[label]
            stacks[label] = BenchStack(extra_env=env, serve_args=serve_args).start()
            asyncio.run(_load_boards(stacks[label].redis.url, args.players))
        for label, stack in stacks.items():
            run_server(label, stack, args)
        for round_no in range(args.rounds):
            for name in TARGETS:
                if args.only is not None and name not in args.only:
                    continue
                for label, stack in stacks.items():   # alternated: every server sees the same load
                    url, script = targets(stack, args.players)[name]
                    result: dict[str, Any] = ({"target": name} if args.rate <= 0   # flat only
                                              else measure(stack, name, url, script, args.rate, args.seconds))
                    if args.flat:
                        result["flat"] = flat(stack, url, script, args.seconds)
                    print(json.dumps({"round": round_no, "server": label, **result}), flush=True)
    finally:
        for stack in stacks.values():
            stack.stop()


TARGETS = ("healthz", "top100_same_body", "top100_distinct")


def targets(stack: BenchStack, players: int) -> dict[str, tuple[str, str]]:
    return {"healthz": (f"{stack.url}/healthz", ""),
            "top100_same_body": (stack.url, post_script(TOP100, players)),
            "top100_distinct": (stack.url, post_script(TOP100, players, distinct=True))}


def run_server(label: str, stack: BenchStack, args: argparse.Namespace) -> None:
    """Warm one server (plans, top snapshot), then its profiles and py-spy dumps if asked."""
    wrk.run(stack.url, post_script(TOP100, args.players), seconds=2, connections=4)
    for name in args.profile:
        url, script = targets(stack, args.players)[name]
        print(json.dumps({"server": label, "profile": name, **profile_target(stack, url, script, args.seconds)},
                         indent=1), flush=True)
    if args.spy:
        assert stack.process is not None
        pid = stack.process.pid
        url, script = targets(stack, args.players)["top100_same_body"]
        dumps: list[str] = []
        spy = threading.Thread(target=lambda: dumps.extend(spy_dumps(pid, 5, 1.0)))
        spy.start()
        measure(stack, "top100_same_body", url, script, args.rate, 7)
        spy.join()
        for dump in dumps:
            print(dump, flush=True)


if __name__ == "__main__":
    main()
