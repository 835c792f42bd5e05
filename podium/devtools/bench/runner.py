"""Run the selected scenarios against a local stack and write `benchmarks/results/<timestamp>/`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podium.devtools.bench import report, scenarios
from podium.devtools.bench.baselines import Peer
from podium.devtools.bench.scenarios import BenchConfig
from podium.devtools.bench.stack import BenchStack

RESULTS_DIR = scenarios.BENCH_DIR / "results"


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[scenarios.Progress]:
    if not enabled:
        yield lambda desc, advance, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=False) as bar:
        def update(desc: str, advance: int, total: int) -> None:
            if desc not in tasks:
                tasks[desc] = bar.add_task(desc, total=total)
            bar.update(tasks[desc], advance=advance)
        yield update


@contextlib.contextmanager
def _redis(stack: BenchStack | None) -> Iterator[str]:
    """The stack's Redis, or a bare one (a scenario that measures Redis alone starts no region)."""
    if stack is not None:
        yield stack.redis.url
        return
    import tempfile

    from podium.redis_server import RedisServer

    with tempfile.TemporaryDirectory(prefix="podium-bench-") as tmp:
        server = RedisServer(Path(tmp) / "redis", appendonly=False)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def run(names: Sequence[str], cfg: BenchConfig, *, mode: str, command: str, out_dir: Path | None = None,
        show_progress: bool = True) -> tuple[dict[str, Any], Path]:
    unknown = set(names) - set(scenarios.SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {sorted(unknown)}; choose from {scenarios.SCENARIOS}")
    started = datetime.now(UTC)
    out = out_dir or RESULTS_DIR / started.strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "mode": mode, "command": command,
                               "config": {k: str(v) for k, v in vars(cfg).items()}, "scenarios": {}, "seconds": {}}
    peer = Peer(cfg.cache_dir, enabled=cfg.peer)
    shared: dict[str, Any] = {}
    needs_stack = {"ingest", "read", "trending"} & set(names)   # memory needs only a Redis
    with _progress(show_progress) as progress, (BenchStack() if needs_stack else contextlib.nullcontext()) as stack:
        for name in names:
            t0 = time.perf_counter()
            progress(f"scenario {name}", 0, 1)
            if name == "ingest":
                assert stack is not None  # needs_stack
                res = scenarios.scenario_ingest(stack, cfg, peer, progress)
            elif name == "read":
                assert stack is not None
                res = scenarios.scenario_read(stack, cfg, peer, progress, shared)
            elif name == "memory":
                from podium.devtools.bench.memory import scenario_memory

                with _redis(stack) as redis_url:
                    res = scenario_memory(redis_url, cfg.read_boards, progress)
            elif name == "subscriptions":
                res = scenarios.scenario_subscriptions(cfg)
            elif name == "trending":
                from podium.devtools.bench.trending import scenario_trending

                assert stack is not None
                res = scenario_trending(stack, cfg.trending_batches, cfg.trending_ack_batches, cfg.trending_reads,
                                        wide=(cfg.trending_distinct_items, cfg.trending_wide_reads),
                                        world=(cfg.trending_global_events, cfg.trending_global_reads))
            elif name == "notifications":
                from podium.devtools.bench.notifications import scenario_notifications

                res = scenario_notifications(cfg.notify_players, cfg.notify_rules, cfg.notify_ticks,
                                             cfg.notify_changes_per_tick, cfg.notify_endpoints, cfg.notify_events,
                                             live=cfg)
            elif name == "global":
                res = scenarios.scenario_global(cfg)
            elif name == "convergence":
                from podium.devtools.bench.convergence import scenario_convergence

                res = scenario_convergence(cfg.convergence_entries, cfg.convergence_baseline_python, progress)
            elif name == "contests":
                res = scenarios.scenario_contests(cfg)
            else:
                res = scenarios.scenario_kafka(cfg)
            progress(f"scenario {name}", 1, 1)
            results["scenarios"][name] = res
            results["seconds"][name] = round(time.perf_counter() - t0, 1)
    report.write(results, out)
    return results, out
