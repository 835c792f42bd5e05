"""Ack latency with the history writer in the serving process vs in its own process, same session.

    python -m podium.devtools.bench.ingest_placement [--rounds 2] [--seconds 8] [--connections 8]

Each round starts a fresh `BenchStack` per placement (`history.writer_placement` = in_process, then
separate; the order alternates between rounds, so neither always runs first), measures the peak with
1000-entry batches and then the ack p50/p99 of 500-entry batches paced at `--load` × that peak
(`ingest_wrk.peak_and_paced`, as `podium bench ingest`). It prints one JSON line per run: scores/s,
the paced run's latencies (wrk's, the server's histogram, the region threads' run-queue wait) and achieved load, CPU per entry of the region process and of the writer
process (separate only), and the load average."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from podium.devtools.bench import ingest_wrk
from podium.devtools.bench.stack import BenchStack

PLACEMENTS = ("in_process", "separate")


def profile_paced(stack: BenchStack, rate_per_s: float, seconds: float, out: Path | None) -> dict[str, Any]:
    """A paced run at `rate_per_s` 500-entry batches/s, with py-spy recording the region server
    (collapsed stacks in `out`) unless `out` is None; the paced run's figures."""
    assert stack.process is not None
    rec: subprocess.Popen[bytes] | None = None
    if out is not None:
        spy = shutil.which("py-spy")
        if spy is None:
            raise SystemExit("py-spy not found: pip install py-spy")
        rec = subprocess.Popen([spy, "record", "--format", "raw", "--rate", "200", "--threads", "-d",
                                str(int(seconds)), "-p", str(stack.process.pid), "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conns = max(1, min(8, math.floor(rate_per_s * seconds / 8)))
        return ingest_wrk.run(stack.url, stack.process.pid, entries=500, bodies=int(rate_per_s * seconds * 1.5) + 10,
                              seconds=seconds, connections=conns, rate_per_s=rate_per_s, redis_url=stack.redis.url)
    finally:
        if rec is not None:
            rec.wait(timeout=seconds + 60)


def measure(placement: str, *, seconds: float, connections: int, load: float,
            profile_dir: Path | None = None, rate_per_s: float | None = None) -> dict[str, Any]:
    """One placement's run; with `rate_per_s` (500-entry batches/s) no peak is measured and every
    placement is paced at that same offered rate (CPU per entry then compares at equal load)."""
    with BenchStack(extra_env={"PODIUM_HISTORY__WRITER_PLACEMENT": placement}) as stack:
        assert stack.process is not None
        writer_pid = stack.writer.pid if stack.writer is not None else None
        writer0 = ingest_wrk.cpu_seconds(writer_pid) if writer_pid else 0.0
        load0 = os.getloadavg()[0]
        if rate_per_s is None:
            res = ingest_wrk.peak_and_paced(stack.url, stack.process.pid, connections=(connections,),
                                            seconds=seconds, load=load, redis_url=stack.redis.url)
        else:
            ingest_wrk.run(stack.url, None, entries=1000, bodies=5, seconds=1, connections=1)   # warm-up
            paced_run = profile_paced(stack, rate_per_s, seconds, None)
            paced_run["load_vs_peak"] = None
            res = {"peak": {"requests": 0, "non_2xx": 0, "batch_entries": 1000, "scores_per_s": None}, "paced": paced_run}
        writer_cpu = ingest_wrk.cpu_seconds(writer_pid) - writer0 if writer_pid else None
        profiled = None
        if profile_dir is not None:
            run = profile_paced(stack, res["paced"]["target_batches_per_s"], max(seconds, 15.0),
                                profile_dir / f"{placement}.txt")
            profiled = {k: run.get(k) for k in ("p50_ms", "p99_ms", "scores_per_s", "requests", "non_2xx")}
    peak, paced = res["peak"], res["paced"]
    entries = (peak["requests"] - peak["non_2xx"]) * peak["batch_entries"] + \
        (paced["requests"] - paced["non_2xx"]) * paced["batch_entries"]
    return {
        "placement": placement, "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)],
        "peak_scores_per_s": peak["scores_per_s"], "peak_scores_per_region_cpu_s": peak.get("scores_per_region_cpu_s"),
        "paced_redis_cpu_s": paced.get("redis_cpu_s"),
        "paced_target_batches_per_s": paced.get("target_batches_per_s"), "paced_scores_per_s": paced["scores_per_s"],
        "paced_load_vs_peak": paced.get("load_vs_peak"), "paced_requests": paced["requests"],
        "paced_non_2xx": paced["non_2xx"], "ack_p50_ms": paced["p50_ms"], "ack_p99_ms": paced["p99_ms"],
        # the server's own histogram of the route, and how long its threads waited for a CPU (server_side)
        "ack_server_p50_ms": paced.get("server_p50_ms"), "ack_server_p99_ms": paced.get("server_p99_ms"),
        "region_runqueue_wait_ms_per_request": paced.get("region_runqueue_wait_ms_per_request"),
        "paced_region_cpu_us_per_entry": round(1e6 * paced["region_cpu_s"] / max(1, (paced["requests"] - paced["non_2xx"])
                                                                            * paced["batch_entries"]), 2)
        if paced.get("region_cpu_s") else None,
        "writer_cpu_us_per_entry": round(1e6 * writer_cpu / max(1, entries), 2) if writer_cpu is not None else None,
        **({"profiled_paced_run": profiled} if profiled is not None else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0, help="each wrk run (peak, and the paced run's minimum)")
    ap.add_argument("--connections", type=int, default=8, help="peak run's connections")
    ap.add_argument("--load", type=float, default=0.5, help="paced rate as a fraction of the measured peak")
    ap.add_argument("--placements", default=",".join(PLACEMENTS))
    ap.add_argument("--rate", type=float, default=None,
                    help="pace every placement at this many 500-entry batches/s (no peak run)")
    ap.add_argument("--profile-dir", type=Path, default=None,
                    help="also profile the region with py-spy during a further paced run (DIR/<placement>.txt)")
    args = ap.parse_args()
    if args.profile_dir is not None:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    placements = [p.strip() for p in args.placements.split(",") if p.strip()]
    for r in range(args.rounds):
        for placement in placements if r % 2 == 0 else list(reversed(placements)):
            out = measure(placement, seconds=args.seconds, connections=args.connections, load=args.load,
                          profile_dir=args.profile_dir if r == 0 else None, rate_per_s=args.rate)
            print(json.dumps({"round": r + 1, **out}), flush=True)


if __name__ == "__main__":
    main()
