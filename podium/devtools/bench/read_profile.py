"""Where a read's time goes: wrk drives one query at the bench's region server while py-spy samples it.

    python -m podium.devtools.bench.read_profile --players 100000 --seconds 8

runs region servers: the GraphQL fast path off ("general"), on without compiled plans
("fast"), on with them behind the general middleware chain ("planned") and behind the one-pass
GraphQL entry ("one_pass"); every body differs (an unused random player in the
top-100's variables), so each request is executed, never the whole-response cache. It prints, per
query and server, wrk's rate and the functions holding the most samples (inclusive: a function
counts when it is anywhere on the stack; self: when it is the innermost frame). py-spy must be on
the PATH (`pip install py-spy`); rate limits are lifted by the bench stack."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from podium.devtools.bench import stack as stack_module
from podium.devtools.bench import wrk
from podium.devtools.bench.read_queries import PROFILE_QUERIES, post_script
from podium.devtools.bench.scenarios import _load_boards
from podium.devtools.bench.stack import BenchStack

TOP_FRAMES = 70


def summarize(collapsed: str, top: int = TOP_FRAMES) -> dict[str, Any]:
    """Inclusive and self sample shares per function from py-spy's collapsed (`--format raw`) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    share = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {"samples": total,
            "inclusive_pct": [(f, share(c)) for f, c in inclusive.most_common(top)],
            "self_pct": [(f, share(c)) for f, c in own.most_common(top)]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used: per request, a figure the machine's load barely moves
    (unlike requests/s on a shared machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def spy_during(pid: int, seconds: float) -> Iterator[dict[str, Any]]:
    """py-spy samples process `pid` for `seconds` while the block runs (0: no sampling); the dict
    yielded is filled with the summary when the block ends (empty without py-spy)."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    summary: dict[str, Any] = {}
    if not spy or seconds <= 0:
        yield summary
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        sampler = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(round(seconds)),
                                    "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield summary
        finally:
            sampler.wait(seconds + 30)
        text = out.read_text() if out.exists() else ""
        if text:
            summary.update(summarize(text))


def profile(stack: BenchStack, name: str, query: str, players: int, seconds: float, connections: int) -> dict[str, Any]:
    assert stack.process is not None
    with spy_during(stack.process.pid, seconds) as summary:
        cpu_before = cpu_seconds(stack.process.pid)
        load = wrk.run(stack.url, post_script(query, players, distinct=True), seconds=seconds,
                       connections=connections)
        load["server_cpu_ms_per_request"] = round(1000 * (cpu_seconds(stack.process.pid) - cpu_before)
                                                  / max(1, load["requests"]), 2)
    return {"query": name, "wrk": load, "profile": summary or "py-spy not available"}


def _stack(fast_path: bool, plans: bool, one_pass: bool) -> BenchStack:
    switches = {"PODIUM_API__GRAPHQL_FAST_PATH": fast_path, "PODIUM_API__GRAPHQL_COMPILED_PLANS": plans,
                "PODIUM_API__GRAPHQL_ONE_PASS": one_pass}
    os.environ.update({k: "true" if v else "false" for k, v in switches.items()})   # read by the server at start
    stack = BenchStack()
    try:
        return stack.start()
    except BaseException:
        stack.stop()   # its Redis (and a server that did not become ready)
        raise
    finally:
        for key in switches:
            del os.environ[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the general and fast servers")
    parser.add_argument("--queries", nargs="*", default=list(PROFILE_QUERIES))
    parser.add_argument("--servers", nargs="*", default=["general", "fast", "planned", "one_pass"])
    args = parser.parse_args()
    # The servers, each on its own Redis with the same board, measured alternately so all see the
    # same machine load (the figures are their ratios, not absolutes). "planned" runs plans behind
    # the general middleware chain, "one_pass" behind the one-pass GraphQL entry.
    switches = {"general": (False, False, False), "fast": (True, False, False), "planned": (True, True, False),
                "one_pass": (True, True, True)}
    stack_module.START_TIMEOUT_S = max(stack_module.START_TIMEOUT_S, 180.0)   # a loaded machine starts slowly
    stacks: dict[str, BenchStack] = {}
    try:
        for label in args.servers:
            stacks[label] = _stack(*switches[label])
        for stack in stacks.values():
            asyncio.run(_load_boards(stack.redis.url, args.players))
        for round_no in range(args.rounds):
            for name in args.queries:
                for label, stack in stacks.items():
                    result = profile(stack, name, PROFILE_QUERIES[name], args.players, args.seconds, args.connections)
                    print(json.dumps({"round": round_no, "server": label, **result}, indent=1), flush=True)
    finally:
        for stack in stacks.values():
            stack.stop()


if __name__ == "__main__":
    main()
