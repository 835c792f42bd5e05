"""Server CPU per request over HTTP for each read, GraphQL against its REST peer and `/healthz`, on
one region server driven by wrk (the bench's scripts), the targets alternated in rounds.

    python -m podium.devtools.bench.read_http_cpu --players 100000 --seconds 3 --rounds 3 [--spy]

`podium bench read` compares requests per second, which on a shared 2-core machine mostly says how
much of a core the server got; the server's own CPU per request (from /proc, user + system) is
what the code decides and what other processes move least. The ratios `graphql / rest` per read
(CPU per request, lower is better for the first) are the figure to compare across commits. With
`--spy`, one more round runs with py-spy sampling the server (not counted in the figures) and the
top frames are printed (inclusive and self shares, as `read_profile` does). `--servers default
uvloop` runs both servers (`podium serve --loop`) side by side, alternated target by target."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from typing import Any
from urllib.parse import urlencode

from podium.devtools.bench import stack as stack_module
from podium.devtools.bench import wrk
from podium.devtools.bench.read_profile import cpu_seconds, spy_during
from podium.devtools.bench.read_queries import post_script
from podium.devtools.bench.read_wrk import GRAPHQL, REST, rest_script
from podium.devtools.bench.scenarios import _load_boards
from podium.devtools.bench.stack import BenchStack

SERVERS = {"default": [], "uvloop": ["--loop", "uvloop"]}


def scripts(players: int) -> dict[str, tuple[str, str]]:
    """Each target's (path, wrk script): the bench's GraphQL reads (top-100 with one body and with
    distinct bodies, and by GET), their REST peers and /healthz."""
    out: dict[str, tuple[str, str]] = {"healthz": ("/healthz", "")}
    for name, query in GRAPHQL.items():
        out[f"graphql_{name}"] = ("", post_script(query, players))
        out[f"rest_{name}"] = ("", rest_script(REST[name], players))
    out["graphql_top100_distinct"] = ("", post_script(GRAPHQL["top100"], players, distinct=True))
    # the same top-100 document by GET (one URL: a whole-response cache hit, like the one POST body)
    query = urlencode({"query": GRAPHQL["top100"], "variables": json.dumps({"b": "read"}, separators=(",", ":"))})
    out["graphql_top100_get"] = (f"/graphql?{query}", "")
    return out


def measure(stack: BenchStack, path: str, script: str, seconds: float, connections: int,
            spy: bool) -> dict[str, Any]:
    assert stack.process is not None
    pid = stack.process.pid
    before = cpu_seconds(pid)
    with spy_during(pid, seconds if spy else 0) as profile:
        load = wrk.run(stack.url + path, script, seconds=seconds, connections=connections)
    load["server_cpu_us_per_request"] = round(1e6 * (cpu_seconds(pid) - before) / max(1, load["requests"]), 1)
    if profile:
        load["profile"] = profile
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--targets", nargs="*", default=None)
    parser.add_argument("--spy", action="store_true", help="one more round, py-spy sampling the server")
    parser.add_argument("--top", type=int, default=25, help="frames printed per profile")
    parser.add_argument("--servers", nargs="*", default=["default"], choices=list(SERVERS))
    args = parser.parse_args()
    stack_module.START_TIMEOUT_S = max(stack_module.START_TIMEOUT_S, 180.0)
    all_scripts = scripts(args.players)
    targets = args.targets or list(all_scripts)
    keys = [(server, name) for name in targets for server in args.servers]
    cpu: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    rps: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    profiles: dict[str, Any] = {}
    stacks: dict[str, BenchStack] = {}
    try:
        for server in args.servers:
            stacks[server] = BenchStack(serve_args=SERVERS[server]).start()
            asyncio.run(_load_boards(stacks[server].redis.url, args.players))
            for name in targets:   # warm: prepares each document, fills the tops
                measure(stacks[server], *all_scripts[name], 1, 4, False)
        for round_no in range(args.rounds + (1 if args.spy else 0)):
            for server, name in keys:
                spy = round_no == args.rounds
                result = measure(stacks[server], *all_scripts[name], args.seconds, args.connections, spy)
                if not spy:
                    cpu[server, name].append(result["server_cpu_us_per_request"])
                    rps[server, name].append(result["rps"])
                if "profile" in result:
                    profiles[f"{server} {name}"] = {k: v[:args.top] if isinstance(v, list) else v
                                                    for k, v in result["profile"].items()}
    finally:
        for stack in stacks.values():
            stack.stop()
    out: dict[str, Any] = {"unit": "server CPU µs per request (median of rounds); wrk req/s (median)"}
    for server, name in keys:
        label = name if len(args.servers) == 1 else f"{server} {name}"
        out[label] = {"cpu_us": statistics.median(cpu[server, name]), "cpu_us_rounds": cpu[server, name],
                      "rps": statistics.median(rps[server, name])}
    for server in args.servers:
        prefix = "" if len(args.servers) == 1 else f"{server} "
        for name in GRAPHQL:
            g, r = out.get(f"{prefix}graphql_{name}"), out.get(f"{prefix}rest_{name}")
            if g and r:
                out[f"{prefix}{name}_graphql_over_rest_cpu"] = round(g["cpu_us"] / r["cpu_us"], 3)
    print(json.dumps(out, indent=1))
    for name, profile in profiles.items():
        print(json.dumps({"target": name, **profile}, indent=1))


if __name__ == "__main__":
    main()
