"""Profile the region server under load with py-spy (pip install py-spy).

    python benchmarks/profile_region.py top100 --seconds 10 --out /tmp/top100.txt
    python benchmarks/profile_region.py ingest --seconds 10 --out /tmp/ingest.txt

Starts the bench stack, loads a 100k-player board through `RedisRankStore.load`, runs `podium loadgen`'s
generator against it and records the server process with `py-spy record --format raw` (collapsed stacks);
prints the functions with the most own samples.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys

from podium.devtools.bench import scenarios
from podium.devtools.bench.scenarios import BenchConfig
from podium.devtools.bench.stack import BenchStack


def top_frames(raw: str, n: int = 25) -> list[tuple[str, int, int]]:
    """(frame, own samples, inclusive samples) from py-spy's collapsed output."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        own[frames[-1]] += int(count)
        for f in set(frames):
            incl[f] += int(count)
    return [(f, c, incl[f]) for f, c in own.most_common(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["ingest", "top100", "rank", "around", "page500_600"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--out", default="/tmp/podium-profile.txt")
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy not found: pip install py-spy")
    cfg = BenchConfig(read_seconds=args.seconds, read_requests_max=10**7, read_concurrency=16)
    with BenchStack() as stack:
        asyncio.run(scenarios._load_boards(stack.redis.url, args.players))
        assert stack.process is not None
        rec = subprocess.Popen([spy, "record", "--format", "raw", "--rate", "200", "-d", str(int(args.seconds)),
                                "-p", str(stack.process.pid), "-o", args.out], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if args.kind == "ingest":
            res = asyncio.run(scenarios._ingest_http(stack.url, 10**6 // scenarios.BATCH_ENTRIES, 8, args.seconds, None))
        else:
            res = asyncio.run(scenarios._http_query(stack.url, args.kind, args.players, cfg, None, args.seconds, None))
        rec.wait(args.seconds + 30)
    print(res)
    with open(args.out) as f:
        raw = f.read()
    total = sum(int(line.rpartition(" ")[2]) for line in raw.splitlines() if line.rpartition(" ")[2].isdigit())
    print(f"{total} samples")
    for frame, own, incl in top_frames(raw):
        print(f"{own / total:6.1%} own {incl / total:6.1%} incl  {frame}")


if __name__ == "__main__":
    main()
