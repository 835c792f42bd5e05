"""Ack latency with the history writer in the serving process vs in its own process, same session.

    python -m podium.devtools.bench.ingest_placement [--rounds 2] [--seconds 8] [--connections 8]

Each round starts a fresh `BenchStack` per placement (`history.writer_placement` = in_process, then
separate; the order alternates between rounds, so neither always runs first), measures the peak with
1000-entry batches and then the ack p50/p99 of 500-entry batches paced at `--load` × that peak
(`ingest_wrk.peak_and_paced`, as `podium bench ingest`). It prints one JSON line per run: scores/s,
the paced run's latencies and achieved load, CPU per entry of the region process and of the writer
process (separate only), and the load average."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from podium.devtools.bench import ingest_wrk
from podium.devtools.bench.stack import BenchStack

PLACEMENTS = ("in_process", "separate")


def measure(placement: str, *, seconds: float, connections: int, load: float) -> dict[str, Any]:
    with BenchStack(extra_env={"PODIUM_HISTORY__WRITER_PLACEMENT": placement}) as stack:
        assert stack.process is not None
        writer_pid = stack.writer.pid if stack.writer is not None else None
        writer0 = ingest_wrk.cpu_seconds(writer_pid) if writer_pid else 0.0
        load0 = os.getloadavg()[0]
        res = ingest_wrk.peak_and_paced(stack.url, stack.process.pid, connections=(connections,), seconds=seconds,
                                        load=load, redis_url=stack.redis.url)
        writer_cpu = ingest_wrk.cpu_seconds(writer_pid) - writer0 if writer_pid else None
    peak, paced = res["peak"], res["paced"]
    entries = (peak["requests"] - peak["non_2xx"]) * peak["batch_entries"] + \
        (paced["requests"] - paced["non_2xx"]) * paced["batch_entries"]
    return {
        "placement": placement, "load_avg": [round(load0, 1), round(os.getloadavg()[0], 1)],
        "peak_scores_per_s": peak["scores_per_s"], "peak_scores_per_region_cpu_s": peak.get("scores_per_region_cpu_s"),
        "paced_target_batches_per_s": paced.get("target_batches_per_s"), "paced_scores_per_s": paced["scores_per_s"],
        "paced_load_vs_peak": paced.get("load_vs_peak"), "paced_requests": paced["requests"],
        "paced_non_2xx": paced["non_2xx"], "ack_p50_ms": paced["p50_ms"], "ack_p99_ms": paced["p99_ms"],
        "paced_region_cpu_us_per_entry": round(1e6 * paced["region_cpu_s"] / max(1, (paced["requests"] - paced["non_2xx"])
                                                                            * paced["batch_entries"]), 2)
        if paced.get("region_cpu_s") else None,
        "writer_cpu_us_per_entry": round(1e6 * writer_cpu / max(1, entries), 2) if writer_cpu is not None else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0, help="each wrk run (peak, and the paced run's minimum)")
    ap.add_argument("--connections", type=int, default=8, help="peak run's connections")
    ap.add_argument("--load", type=float, default=0.5, help="paced rate as a fraction of the measured peak")
    ap.add_argument("--placements", default=",".join(PLACEMENTS))
    args = ap.parse_args()
    placements = [p.strip() for p in args.placements.split(",") if p.strip()]
    for r in range(args.rounds):
        for placement in placements if r % 2 == 0 else list(reversed(placements)):
            out = measure(placement, seconds=args.seconds, connections=args.connections, load=args.load)
            print(json.dumps({"round": r + 1, **out}), flush=True)


if __name__ == "__main__":
    main()
