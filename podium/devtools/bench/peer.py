"""Driver for the agoragames `leaderboard` 3.7.3 peer library, run inside its own venv (redis-py 2.x).

Run as a script by the venv's python: argv = redis_port, op, count; prints one JSON object.
"""

import json
import random
import sys
import time


def main() -> None:
    port, op, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    from leaderboard.leaderboard import Leaderboard

    lb = Leaderboard("peer-bench", port=port, host="127.0.0.1", page_size=100)
    lat = []
    start = time.perf_counter()
    if op == "ingest":
        batches = count // 1000
        for b in range(batches):
            args: list[object] = []
            for i in range(1000):
                args.extend(("p%d" % random.randrange(1000000), random.randrange(10 ** 9)))
            t0 = time.perf_counter()
            lb.rank_members(args)
            lat.append(time.perf_counter() - t0)
        items = batches * 1000
    elif op == "load":
        for b in range(0, count, 10000):
            args = []
            for i in range(b, min(count, b + 10000)):
                args.extend(("p%d" % i, i))
            lb.rank_members(args)
        items = count
    else:
        total = lb.total_members()
        for _ in range(count):
            member = "p%d" % random.randrange(max(total, 1))
            t0 = time.perf_counter()
            if op == "leaders":
                lb.leaders(1, page_size=100)
            elif op == "rank":
                lb.rank_for(member)
            elif op == "around":
                lb.around_me(member, page_size=25)
            lat.append(time.perf_counter() - t0)
        items = count
    seconds = time.perf_counter() - start
    lat = sorted(x * 1000 for x in lat) or [0.0]
    print(json.dumps({"items_per_s": items / seconds, "rps": len(lat) / seconds,
                      "p50_ms": lat[len(lat) // 2], "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}))


if __name__ == "__main__":
    main()
