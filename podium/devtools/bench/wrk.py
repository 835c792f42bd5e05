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
