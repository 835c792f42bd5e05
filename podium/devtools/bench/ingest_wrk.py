"""`podium bench ingest` load from wrk (a native generator): pre-signed batch bodies, each sent once.

Every body has its own event ids and its own signature (a signature is accepted once: the replay
guard), signed when the bench starts (well inside the signature window). The Lua script reads them
from a file, pre-formats every request in `init` and sends them in order; a thread stops when its
bodies run out. Two loads:
- peak: closed loop, `connections` requests in flight, 1000-entry batches;
- paced: 500-entry batches at a target rate, each connection waiting `connections / rate` seconds
  (wrk's `delay()`) after each answer before its next request. This is paced, not strictly open
  loop: a slow answer delays that connection's next request, so the achieved rate is reported next
  to the target, and latency is measured per request from its send (wrk's own histogram). The
  connections start one `1 / rate` apart: started together, their first requests arrived as one
  burst of `connections` batches, and that burst's queue alone made the top percent of a short
  run's latencies (the 8th batch waited for 7 others).
  The paced run starts once the history backlog the peak runs left is written (the writer drains
  it at a few µs of CPU per row: hundreds of thousands of rows competed with the paced requests
  for the cores), and reports the server's own histogram for the route and its threads' run-queue
  wait beside wrk's figures (`server_side`).
The region's CPU time over each run is read from /proc, and Redis' from INFO cpu, so figures per
CPU-second of the region process and of Redis are reported too (comparable across runs on a busy
machine, unlike wall-clock rates, and they say which of the two is the limit).
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from podium.devtools.bench import server_side, wrk
from podium.devtools.bench.stack import GAME_KEY_ID, GAME_SECRET
from podium.signing import signature

_SCRIPT = """
local requests = {}
local n, i = 0, 0
init = function(args)
  for line in io.lines(args[1]) do
    local ts, sig, body = line:match("^(%%d+)\\t(%%x+)\\t(.*)$")
    n = n + 1
    requests[n] = wrk.format("POST", "/v1/scores", {["Content-Type"] = "application/json",
      ["X-Podium-Key"] = "%(key)s", ["X-Podium-Timestamp"] = ts, ["X-Podium-Signature"] = sig}, body)
  end
end
request = function()
  i = i + 1
  if i > n then i = n end   -- a replay past the end is refused (401) and counted as non-2xx
  return requests[i]
end
response = function(status, headers, body)
  if i >= n then wrk.thread:stop() end
end
%(delay)s
"""
# Paced: connection k (k < connections) sends its first request k gaps late, then one every `delay` ms.
_DELAY = """
local started = 0
delay = function()
  started = started + 1
  if started <= %(connections)d then return %(gap_ms).3f * (started - 1) end
  return %(delay_ms).3f
end
"""
BACKLOG_WAIT_S_MAX = 120.0   # the history backlog a peak run leaves gets this long to drain before the paced run


ROUTE = "/v1/scores"


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def backlog_entries(url: str) -> int:
    """Entries (apply calls) in the region's history backlog, as of its last check (`podium_history_backlog_entries`)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return int(sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith("podium_history_backlog_entries")))


def wait_backlog_drained(url: str, seconds_max: float = BACKLOG_WAIT_S_MAX) -> float | None:
    """Waits until the history backlog is empty; the seconds waited, or None if it was not empty
    after `seconds_max` (the run then goes on: its figures include the drain)."""
    t0 = time.monotonic()
    while backlog_entries(url):
        if time.monotonic() - t0 > seconds_max:
            return None
        time.sleep(0.25)
    return round(time.monotonic() - t0, 1)


def write_bodies(path: Path, count: int, entries: int, board: str, players: int = 1_000_000) -> None:
    """`count` signed bodies of `entries` entries each (players drawn from `players`), one per line:
    timestamp, signature, body."""
    now = time.time_ns() // 10**6
    with path.open("wb") as f:
        for n in range(count):
            body = orjson.dumps({"entries": [
                {"board": board, "player": f"p{random.randrange(players)}", "score": random.randrange(10**9),
                 "achieved_at": now, "event_id": f"w{n}-{i}-{random.getrandbits(40)}"} for i in range(entries)]})
            ts = now + n   # a distinct timestamp per body: never two equal signatures
            f.write(f"{ts}\t{signature(GAME_SECRET, 'POST', '/v1/scores', ts, body)}\t".encode() + body + b"\n")


def accepted_entries(url: str) -> int:
    """Entries the region applied or kept so far (its `podium_scores_total` counter), to check that a
    run's 2xx answers were accepted entries rather than per-entry rejections."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("podium_scores_total{") and ('outcome="applied"' in line or 'outcome="unchanged"' in line):
            total += float(line.rpartition(" ")[2])
    return int(total)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds(redis_url: str) -> float:
    """User + system CPU time of the Redis server so far (INFO cpu): the scripts' share of a batch."""
    with redis.Redis.from_url(redis_url) as r:
        info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run(url: str, pid: int | None, *, entries: int, bodies: int, seconds: float, connections: int,
        rate_per_s: float | None = None, board: str = "ingest", redis_url: str | None = None,
        players: int = 1_000_000) -> dict[str, Any]:
    """One wrk run; scores/s counts 2xx answers × entries (every generated entry is valid and new).
    With `redis_url`, the Redis server's CPU over the run is reported too (scores per Redis CPU-second):
    the region and Redis share the machine, and either may be the limit."""
    with tempfile.TemporaryDirectory(prefix="podium-bench-ingest-") as tmp:
        path = Path(tmp) / "bodies.tsv"
        write_bodies(path, bodies, entries, board, players)
        delay = _DELAY % {"connections": connections, "gap_ms": 1000.0 / rate_per_s,
                          "delay_ms": 1000.0 * connections / rate_per_s} if rate_per_s else ""
        script = _SCRIPT % {"key": GAME_KEY_ID, "delay": delay}
        threads0 = server_side.thread_times_ns(pid) if pid else None
        buckets0 = server_side.scrape_buckets(url, ROUTE)
        cpu0 = cpu_seconds(pid) if pid else None
        redis0 = redis_cpu_seconds(redis_url) if redis_url else None
        accepted0 = accepted_entries(url)
        res = wrk.run(url, script, seconds=seconds, connections=connections, args=[str(path)])
        cpu = cpu_seconds(pid) - cpu0 if pid and cpu0 is not None else None
        redis_cpu = redis_cpu_seconds(redis_url) - redis0 if redis_url and redis0 is not None else None
        res["accepted"] = accepted_entries(url) - accepted0
        buckets = server_side.scrape_buckets(url, ROUTE)
        threads = server_side.thread_times_ns(pid) if pid else None
    res["server_p50_ms"] = _ms(server_side.percentile(buckets0, buckets, 0.5))
    res["server_p99_ms"] = _ms(server_side.percentile(buckets0, buckets, 0.99))
    if threads0 is not None and threads is not None and res["requests"]:
        # time the region's threads were runnable but another process had the CPU, per request
        _run_s, wait_s = server_side.cpu_and_wait_s(threads0, threads)
        res["region_runqueue_wait_ms_per_request"] = round(1000 * wait_s / res["requests"], 2)
    ok = res["requests"] - res["non_2xx"]
    res["scores_per_s"] = round(ok * entries / res["seconds"], 1) if res["seconds"] else 0.0
    res["batch_entries"] = entries
    res["connections"] = connections
    if cpu:
        res["region_cpu_s"] = round(cpu, 3)
        res["scores_per_region_cpu_s"] = round(ok * entries / cpu, 1)
    if redis_cpu:
        res["redis_cpu_s"] = round(redis_cpu, 3)
        res["scores_per_redis_cpu_s"] = round(ok * entries / redis_cpu, 1)
    if rate_per_s:
        res["target_batches_per_s"] = round(rate_per_s, 2)
    return res


def peak_and_paced(url: str, pid: int | None, *, connections: tuple[int, ...], seconds: float,
                   peak_entries: int = 1000, paced_entries: int = 500, load: float = 0.5,
                   redis_url: str | None = None, paced_samples: int = 300) -> dict[str, Any]:
    """Peak scores/s (best over `connections`), then the ack latency of `paced_entries`-entry batches
    at `load` × that peak, over about `paced_samples` batches (at most 30 s)."""
    run(url, None, entries=peak_entries, bodies=5, seconds=1, connections=1)   # warm-up (scripts, registry), not counted
    runs = []
    for conc in connections:
        # enough bodies for 200k scores/s over the run; the run stops early when they are used up
        bodies = max(20, int(200_000 * seconds / peak_entries))
        runs.append(run(url, pid, entries=peak_entries, bodies=bodies, seconds=seconds, connections=conc,
                        redis_url=redis_url))
    best = max(runs, key=lambda r: r["scores_per_s"])
    rate = max(1.0, load * best["scores_per_s"] / paced_entries)
    # long enough for `paced_samples` batches (at most 30 s: a p99 of 60 samples was their maximum); up to
    # 8 connections, so an answer's latency delays only that connection's next request
    # (achieved ≈ rate / (1 + latency·rate/conns))
    paced_seconds = max(seconds, min(30.0, paced_samples / rate))
    paced_conns = max(1, min(8, math.floor(rate * paced_seconds / 8)))
    drained_s = wait_backlog_drained(url)
    paced = run(url, pid, entries=paced_entries, bodies=int(rate * paced_seconds * 1.5) + 10, seconds=paced_seconds,
                connections=paced_conns, rate_per_s=rate, redis_url=redis_url)
    paced["load_vs_peak"] = round(paced["scores_per_s"] / best["scores_per_s"], 3) if best["scores_per_s"] else None
    paced["backlog_drain_wait_s"] = drained_s
    return {"peak_runs": runs, "peak": best, "paced": paced}


def available() -> bool:
    return wrk.available()
