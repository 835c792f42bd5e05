"""Global tier accuracy and convergence, on real processes (three regions + the global tier).

Players live in 1, 2 or 3 regions; every region writes `best`, `latest` (scores that move down as
well as up), `increment` and `decrement` boards, with heavy ties; some players are deleted in one
region. The oracle is computed here from each region's own final board (read over GraphQL) with
the documented merge rules. Reported: time from the last acknowledged write until the global
exact tier equals the oracle on every board (burst convergence), the same after a paused region
resumes (partition heal), and, per board, the observed rank error of sampled players against the
`errorBound` each answer states.

    python benchmarks/global_accuracy.py [--batches 40] [--players 6000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from podium.devtools.bench.convergence import oracle  # the documented merge rules
from podium.devtools.stack import Stack
from podium.signing import signed_headers

REGIONS = ["us-east", "eu-west", "ap-south"]
BOARDS = {"best": "best", "latest": "latest", "inc": "increment", "dec": "decrement"}
ENV = {"PODIUM_API__RATE_LIMIT_PER_S": "1000000", "PODIUM_API__RATE_LIMIT_BURST": "1000000"}
PAGE_Q = ("query($b:String!,$n:Int!,$o:Int!){ leaderboard(board:$b, first:$n, offset:$o)"
          "{ totalCount edges { node { rank player score } } } }")
REGION_PAGE_Q = ("query($b:String!,$a:String){ leaderboard(board:$b, first:500, after:$a)"
                 "{ pageInfo { hasNextPage endCursor } edges { node { player score achievedAt } } } }")
ENTRY_Q = "query($b:String!,$p:String!){ player(id:$p){ entry(board:$b){ rank precision errorBound } } }"


def post(client: httpx.Client, stack: Stack, region: str, entries: list[dict[str, Any]]) -> None:
    body = orjson.dumps({"entries": entries})
    headers = signed_headers(stack.game_key_id, stack.game_secret, "POST", "/v1/scores", time.time_ns() // 10**6, body)
    r = client.post(f"{stack.region_node(region).url}/v1/scores", content=body, headers=headers, timeout=60)
    r.raise_for_status()


def gql(client: httpx.Client, url: str, query: str, headers: dict[str, str] | None = None, **variables: Any) -> Any:
    doc = client.post(f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers or {},
                      timeout=30).json()
    if doc.get("errors"):
        raise RuntimeError(doc["errors"][0]["message"])
    return doc["data"]


def region_board(client: httpx.Client, stack: Stack, region: str, board: str) -> dict[str, tuple[int, int]]:
    out, after = {}, None
    while True:
        page = gql(client, stack.region_node(region).url, REGION_PAGE_Q, b=board, a=after)["leaderboard"]
        for e in page["edges"]:
            out[e["node"]["player"]] = (e["node"]["score"], e["node"]["achievedAt"])
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


def global_top(client: httpx.Client, stack: Stack, board: str) -> tuple[list[str], int]:
    rows, total = [], 0
    for offset in (0, 500):
        page = gql(client, stack.global_node.url, PAGE_Q, b=board, n=500, o=offset)["leaderboard"]
        rows += [e["node"]["player"] for e in page["edges"]]
        total = page["totalCount"]
    return rows, total


def oracles(client: httpx.Client, stack: Stack) -> dict[str, list[str]]:
    return {b: oracle(b, [region_board(client, stack, r, b) for r in REGIONS]) for b in BOARDS}


def converged_after(client: httpx.Client, stack: Stack, want: dict[str, list[str]], t0: float) -> float:
    while True:
        try:
            if all(global_top(client, stack, b) == (w[:1000], len(w)) for b, w in want.items()):
                return time.monotonic() - t0
        except RuntimeError:
            pass
        if time.monotonic() - t0 > 300:
            raise RuntimeError("no convergence within 300 s")
        time.sleep(0.1)


def write_burst(client: httpx.Client, stack: Stack, rng: random.Random, homes: dict[str, list[str]],
                batches: int, regions: list[str]) -> int:
    sent = 0
    now = time.time_ns() // 10**6
    for _ in range(batches):
        for region in regions:
            entries = []
            for _ in range(1000):
                board = rng.choice(list(BOARDS))
                player = rng.choice(homes[region])
                score = rng.randrange(3000) if board in ("best", "latest") else rng.randrange(1, 20)
                entries.append({"board": board, "player": player, "score": score,
                                "achieved_at": now - rng.randrange(100_000), "event_id": uuid.uuid4().hex})
            post(client, stack, region, entries)
            sent += len(entries)
    return sent


def run(batches: int, players: int, samples: int = 300) -> dict[str, Any]:
    rng = random.Random(21)
    homes: dict[str, list[str]] = {r: [] for r in REGIONS}
    for i in range(players):
        for region in rng.sample(REGIONS, rng.choice([1, 1, 2, 3])):
            homes[region].append(f"u{i:05d}")
    boards = [{"id": b, "operator": op} for b, op in BOARDS.items()]
    with tempfile.TemporaryDirectory() as tmp, Stack(REGIONS, Path(tmp), boards=boards, extra_env=ENV) as stack, \
            httpx.Client() as client:
        started = time.monotonic()
        sent = write_burst(client, stack, rng, homes, batches, REGIONS)
        burst_s = time.monotonic() - started
        admin = {"Authorization": f"Bearer {stack.admin_key}"}
        for player in rng.sample(homes["us-east"], 50):      # deletions in one region
            gql(client, stack.region_node("us-east").url,
                f'mutation{{ deletePlayer(board:"best", player:"{player}") }}', admin)
        t_last = time.monotonic()
        want = oracles(client, stack)
        oracle_read_s = time.monotonic() - t_last     # included in the convergence figure: an upper bound
        burst_convergence_s = converged_after(client, stack, want, t_last)
        lag = {r["region"]: r["convergence_lag_ms"]
               for r in client.get(f"{stack.global_node.url}/v1/regions").json()["regions"]}

        errors: dict[str, list[tuple[int, int, str]]] = {}
        for board, ranked in want.items():
            errors[board] = []
            for player in rng.sample(ranked, min(samples, len(ranked))):
                got = gql(client, stack.global_node.url, ENTRY_Q, b=board, p=player)["player"]["entry"]
                errors[board].append((abs(got["rank"] - (ranked.index(player) + 1)), got["errorBound"], got["precision"]))

        client.post(f"{stack.region_node('eu-west').url}/v1/admin/replication/pause", headers=admin).raise_for_status()
        write_burst(client, stack, rng, homes, max(1, batches // 10), ["eu-west"])
        want = oracles(client, stack)
        client.post(f"{stack.region_node('eu-west').url}/v1/admin/replication/resume", headers=admin).raise_for_status()
        heal_s = converged_after(client, stack, want, time.monotonic())

    table = {}
    for board, rows in errors.items():
        errs = sorted(e for e, _, _ in rows)
        table[board] = {"samples": len(rows), "p99_error": errs[int(0.99 * (len(errs) - 1))], "max_error": errs[-1],
                        "max_bound": max(b for _, b, _ in rows), "within_bound": all(e <= b for e, b, _ in rows),
                        "tiers": sorted({p for _, _, p in rows})}
    return {"entries": sent, "burst_s": round(burst_s, 1), "entries_per_s": round(sent / burst_s),
            "burst_convergence_s_max": round(burst_convergence_s, 2), "oracle_read_s": round(oracle_read_s, 2),
            "per_change_lag_ms": lag, "partition_heal_s": round(heal_s, 2),
            "rank_error": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=40, help="1,000-entry batches per region")
    parser.add_argument("--players", type=int, default=6000)
    args = parser.parse_args()
    print(json.dumps(run(args.batches, args.players), indent=2))


if __name__ == "__main__":
    main()
