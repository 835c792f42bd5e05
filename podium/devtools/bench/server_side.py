"""What the server saw of a load run, next to what the client measured: its own request histogram
for one route (`podium_http_request_duration_milliseconds`, recorded by the outermost middleware)
and how long its threads waited for a CPU (/proc schedstat).

Why: a client's latency includes its own scheduling on the shared cores; the server's histogram
does not, and the run-queue wait of the server's threads says how much of its time was spent
runnable but not running (another process had the CPU), which is not the server's own work. The
histogram has buckets (podium/telemetry.py), so its percentiles are interpolated within a bucket:
read them as "between these bounds", not to the millisecond."""

from __future__ import annotations

import math
from pathlib import Path

import httpx

HISTOGRAM = "podium_http_request_duration_milliseconds_bucket"
Buckets = dict[float, float]  # upper bound (ms, inf for +Inf) -> cumulative count


def scrape_buckets(url: str, route: str) -> Buckets:
    """The cumulative bucket counts of `route`'s requests (every method and status summed)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: Buckets = {}
    needle = f'route="{route}"'
    for line in text.splitlines():
        if line.startswith(HISTOGRAM + "{") and needle in line:
            le = line.partition('le="')[2].partition('"')[0]
            bound = math.inf if le == "+Inf" else float(le)
            out[bound] = out.get(bound, 0.0) + float(line.rpartition(" ")[2])
    return out


def percentile(before: Buckets, after: Buckets, q: float) -> float | None:
    """The `q` quantile (0 < q ≤ 1) of the requests recorded between two scrapes, interpolated
    linearly inside its bucket (Prometheus' histogram_quantile); the last finite bound when it
    falls in +Inf; None without requests."""
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


def thread_times_ns(pid: int) -> dict[str, tuple[int, int]]:
    """Per thread of `pid` (by thread id): nanoseconds on a CPU and waiting on a run queue so far."""
    out: dict[str, tuple[int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run_ns, wait_ns, _slices = map(int, (task / "schedstat").read_text().split())
        except (OSError, ValueError):  # a thread that ended meanwhile; a kernel without schedstats
            continue
        out[task.name] = (run_ns, wait_ns)
    return out


def cpu_and_wait_s(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> tuple[float, float]:
    """Seconds on a CPU and seconds runnable but waiting for one, summed over the threads that
    lived through both snapshots."""
    run = sum(after[t][0] - v[0] for t, v in before.items() if t in after)
    wait = sum(after[t][1] - v[1] for t, v in before.items() if t in after)
    return run / 1e9, wait / 1e9
