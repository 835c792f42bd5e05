"""HTTP load from `wrk` (a native load generator: Debian's package, installed by
.ci/setup-bench.sh), so the bench measures the server rather than a Python client on the same
cores. POST bodies come from a Lua script that picks a random player per request."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from podium.devtools.bench.read_queries import post_script

# One line the Lua `done` hook prints, parsed back here.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"errors\\":%d,\\"non2xx\\":%d,"
    .. "\\"p50_us\\":%d,\\"p99_us\\":%d}\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""

# A schedule for wrk's `delay()` (called before every request of the thread's connections): request
# i of the thread is due at start + i * interval, so the offered rate is the target whatever the
# answers' latency, as long as enough connections are free (wrk does not correct for coordinated
# omission: when the server falls `SLACK_MS` behind, the schedule restarts from now rather than
# bursting). The clock is LuaJIT's ffi `clock_gettime(CLOCK_MONOTONIC)`: wrk's Lua has no
# sub-second clock of its own. wrk truncates the returned wait to whole ms, so a request leaves at
# most 1 ms early and the mean rate is exact. (A fixed `connections / rate` wait after each answer
# offered `connections / (wait + latency)`: 674 req/s for a 1,000 req/s target against a 1 ms server.)
_PACED = """
local ffi = require("ffi")
pcall(ffi.cdef, "typedef struct { long tv_sec; long tv_nsec; } podium_timespec; "
                .. "int clock_gettime(int clk_id, podium_timespec *tp);")
local podium_ts = ffi.new("podium_timespec")
local function podium_now_ms()
  ffi.C.clock_gettime(1, podium_ts)
  return tonumber(podium_ts.tv_sec) * 1000 + tonumber(podium_ts.tv_nsec) / 1e6
end
local podium_next_ms = nil
delay = function()
  local now = podium_now_ms()
  if podium_next_ms == nil or podium_next_ms < now - %(slack_ms).1f then podium_next_ms = now end
  local wait = podium_next_ms - now
  podium_next_ms = podium_next_ms + %(interval_ms).6f
  return wait
end
"""
SLACK_MS = 50.0


def paced_delay(rate_per_s: float, threads: int = 1) -> str:
    """Lua defining `delay()` so that `threads` wrk threads together offer `rate_per_s` requests
    per second on a schedule (see `_PACED`)."""
    if rate_per_s <= 0 or threads < 1:
        raise ValueError("a paced run needs a positive rate and at least one thread")
    return _PACED % {"slack_ms": SLACK_MS, "interval_ms": 1000.0 * threads / rate_per_s}


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, script: str, *, seconds: float, connections: int, threads: int = 1,
        args: list[str] | None = None) -> dict[str, Any]:
    """wrk against `url` with a Lua script (`args` are passed to its `init`); requests per second
    and latency percentiles."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + _DONE)
        path = f.name
    try:
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                              "--timeout", "10s", "-s", path, url, *(["--", *args] if args else [])], capture_output=True, text=True,
                             timeout=seconds + 60, check=True).stdout
    finally:
        Path(path).unlink(missing_ok=True)
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = raw["duration_us"] / 1e6
    return {"measured": True, "requests": raw["requests"], "errors": raw["errors"], "non_2xx": raw["non2xx"],
            "seconds": round(seconds_run, 3), "rps": round(raw["requests"] / seconds_run, 1) if seconds_run else 0.0,
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000}


def read_suite(url: str, queries: dict[str, str], players: int, *, seconds: float,
               connections: int) -> dict[str, Any]:
    """`/healthz` (the server's ceiling) and each GraphQL read, in the same run."""
    out = {"healthz": run(f"{url}/healthz", "", seconds=seconds, connections=connections)}
    for name, query in queries.items():
        out[name] = run(url, post_script(query, players), seconds=seconds, connections=connections)
    return out
