"""The read bench's native load: wrk against GraphQL, the REST peer of the same reads and /healthz,
flat out (throughput) and paced (latency at a fixed rate), all in the same run.

Pacing uses wrk's Lua `delay()` on a schedule (`wrk.paced_delay`): request i is due at
start + i / rate on whichever of the C connections is free, so the offered rate is `rate` while
fewer than C answers are outstanding (wrk does not correct for coordinated omission, so a paced
p99 is a lower bound when the server falls behind; the achieved rate is reported next to it)."""

from __future__ import annotations

from typing import Any

from podium.devtools.bench import wrk
from podium.devtools.bench.read_queries import AROUND, RANK_SCORE, TOP100, post_script

PACED_CONNECTIONS = 8

# GET the REST peer with a random player; PATH has %s where the player goes.
_GET = """
request = function()
  local player = "p" .. math.random(0, %(players)d - 1)
  return wrk.format("GET", string.format("%(path)s", player))
end
"""


GRAPHQL = {"top100": TOP100, "rank": RANK_SCORE, "around": AROUND}
REST = {"top100": "/v1/boards/read/top?first=100", "rank": "/v1/boards/read/players/%s",
        "around": "/v1/boards/read/around/%s?above=12&below=12"}


def rest_script(path: str, players: int) -> str:
    return _GET % {"path": path, "players": players}


def paced(script: str, rate_per_s: float, connections: int) -> str:
    """`script` with a schedule offering `rate_per_s` over `connections` (one wrk thread)."""
    del connections                     # the schedule is per thread; the connections only bound concurrency
    return script + wrk.paced_delay(rate_per_s)


def suite(url: str, players: int, *, seconds: float, connections: int, paced_rps: float,
          paced_seconds: float) -> dict[str, Any]:
    """Throughput of GraphQL and REST for each read, then each paced at `paced_rps`."""
    out: dict[str, Any] = {}
    for name, query in GRAPHQL.items():
        out[f"graphql_{name}"] = wrk.run(url, post_script(query, players), seconds=seconds, connections=connections)
        out[f"rest_{name}"] = wrk.run(url, rest_script(REST[name], players), seconds=seconds, connections=connections)
    # top-100 with every body different: each request is executed (no whole-response cache hit)
    out["graphql_top100_distinct"] = wrk.run(url, post_script(TOP100, players, distinct=True), seconds=seconds,
                                             connections=connections)
    for name, query in GRAPHQL.items():
        for kind, script in (("graphql", post_script(query, players)), ("rest", rest_script(REST[name], players))):
            run = wrk.run(url, paced(script, paced_rps, PACED_CONNECTIONS), seconds=paced_seconds,
                          connections=PACED_CONNECTIONS)
            out[f"paced_{kind}_{name}"] = {**run, "target_rps": paced_rps}
    return out


def ratios(http_wrk: dict[str, Any]) -> dict[str, float | None]:
    """GraphQL over the REST floor and over /healthz, per read, from one suite."""
    def over(a: str, b: str) -> float | None:
        x, y = http_wrk.get(a, {}).get("rps"), http_wrk.get(b, {}).get("rps")
        return round(x / y, 3) if x and y else None
    out: dict[str, float | None] = {}
    for name in GRAPHQL:
        out[f"wrk_graphql_{name}_vs_rest"] = over(f"graphql_{name}", f"rest_{name}")
        out[f"wrk_graphql_{name}_vs_healthz"] = over(f"graphql_{name}", "healthz")
        out[f"wrk_rest_{name}_vs_healthz"] = over(f"rest_{name}", "healthz")
    out["wrk_graphql_top100_distinct_vs_healthz"] = over("graphql_top100_distinct", "healthz")
    return out
