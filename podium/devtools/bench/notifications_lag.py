"""Webhook delivery lag at a sustained rate: `endpoints` registered endpoints (each following its own
board, `Endpoint.boards`), notifications added to the outbox at `rate_per_s` for `seconds`, each
for one endpoint's board in turn, drained by the delivery worker to the local receiver
(`webhook_receiver`, its own process). The lag of a delivery is its arrival at the receiver minus
the moment its notification entered the outbox.

Why a paced run: `bench_webhooks` (notifications.py) puts every event of every endpoint in the
outbox at once, so its "lag" is the time to drain the whole burst (10,000 deliveries at ~400/s:
25 s), a throughput figure; the target "lag p99 < 1 s while receivers are healthy" is about an
outbox that the worker keeps up with. This run reports the lag at a given rate, the worker's
process CPU per delivery and the receiver's own CPU (on 2 shared cores the receiver competes with
the worker), and every delivery is counted (delivered, dead-lettered, lost).

With `failing_share` / `hanging_share`, the first endpoints answer 500 / never answer (each attempt
ends at `webhook_timeout_ms`); their events are retried quickly and dead-lettered after a short
deadline (`BAD_ENDPOINT_SETTINGS`), and the lag is that of the healthy endpoints' deliveries."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import orjson

from podium.config import NotificationSettings
from podium.devtools.bench.webhook_receiver import Receiver
from podium.redis_client import connect
from podium.redis_server import RedisServer

WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
PRODUCER_TICK_S = 0.01     # the producer adds the events due every 10 ms (one pipelined write)
SETTLE_S = 30.0            # after the last event, deliveries still on their way arrive within this
BAD_ENDPOINT_SETTINGS = {"webhook_retry_base_ms": 100, "webhook_retry_ms_max": 400, "webhook_deadline_ms": 2000}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(samples: list[int], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


async def _run(redis_url: str, receiver: Receiver, endpoints: int, rate_per_s: float, seconds: float,
               settings: NotificationSettings, failing: int, hanging: int) -> dict[str, Any]:
    from podium.clock import SystemClock
    from podium.notify_delivery import DeliveryWorker
    from podium.notify_webhooks import Endpoint
    from podium.notify_webhooks_redis import RedisWebhooks
    from podium.region.notifications.inbox_redis import OUTBOX_KEY

    events = int(rate_per_s * seconds)
    redis = connect(redis_url)
    store = RedisWebhooks(redis, max(endpoints, settings.webhook_endpoints_max), events + 1, settings.dead_letters_max)
    for i in range(endpoints):
        url = (receiver.failing_url if i < failing else receiver.hanging_url if i < failing + hanging
               else receiver.url)(f"e{i}")
        await store.put_endpoint(Endpoint(f"e{i}", url, WEBHOOK_SECRET, boards=(f"b{i}",)))
    worker = DeliveryWorker(store, settings, SystemClock(), "bench-lag")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    enqueued: dict[str, int] = {}
    cpu0, receiver_cpu0 = time.process_time(), _cpu_s(receiver.pid)
    t0 = time.perf_counter()
    n = 0
    while n < events:      # paced: event n is due at t0 + n / rate; each producer turn adds the due ones at once
        due = min(events, int((time.perf_counter() - t0) * rate_per_s) + 1)
        async with redis.pipeline(transaction=False) as pipe:
            for k in range(n, due):
                now_ms = time.time_ns() // 1_000_000
                body = orjson.dumps({"id": f"lag:{k}", "kind": "threshold", "rule": "r", "board": f"b{k % endpoints}",
                                     "player": f"p{k}", "at_ms": now_ms, "rank": 1, "previous_rank": None, "score": k,
                                     "by": [], "count": 0, "extra": {}})
                enqueued[f"lag:{k}"] = now_ms
                pipe.xadd(OUTBOX_KEY, {"n": body})
            await pipe.execute()
        n = due
        await asyncio.sleep(PRODUCER_TICK_S)
    sent_s = time.perf_counter() - t0
    deadline = time.monotonic() + SETTLE_S
    while worker.counters.delivered + worker.counters.dead_lettered < events and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    cpu, receiver_cpu = time.process_time() - cpu0, _cpu_s(receiver.pid) - receiver_cpu0
    stop.set()
    await task
    await redis.aclose()
    lags = [arrived - enqueued[event] for event, arrived in receiver.take() if event in enqueued]
    delivered, dead = worker.counters.delivered, worker.counters.dead_lettered
    return {"endpoints": endpoints, "failing_endpoints": failing, "hanging_endpoints": hanging,
            "rate_per_s": rate_per_s, "events": events, "failed_attempts": worker.counters.failed_attempts,
            "achieved_rate_per_s": round(events / sent_s, 1) if sent_s else None,
            "delivered": delivered, "dead_lettered": dead, "lost": events - delivered - dead,
            "lag_ms": {"p50": _pct(lags, 0.5), "p99": _pct(lags, 0.99), "max": _pct(lags, 1.0)},
            "worker_cpu_ms_per_delivery": round(cpu * 1000 / max(1, delivered), 3),
            "receiver_cpu_share_of_core": round(receiver_cpu / (sent_s or 1), 3),
            "worker_cpu_share_of_core": round(cpu / (sent_s or 1), 3)}


def bench_webhook_lag(endpoints: int, rate_per_s: float, seconds: float, settings: NotificationSettings | None = None,
                      failing_share: float = 0.0, hanging_share: float = 0.0) -> dict[str, Any]:
    failing, hanging = int(endpoints * failing_share), int(endpoints * hanging_share)
    settings = settings or NotificationSettings()
    if failing or hanging:
        settings = settings.model_copy(update=BAD_ENDPOINT_SETTINGS)
    with Receiver() as receiver, TemporaryDirectory(prefix="podium-bench-lag-") as tmp, \
            RedisServer(Path(tmp), appendonly=False) as server:
        return asyncio.run(_run(server.url, receiver, endpoints, rate_per_s, seconds, settings, failing, hanging))


# The worker's settings before this session's changes (full queue scan every poll, httpx's 5 s
# keep-alive); the endpoints' re-read per routed batch (now only when their digest changed) has no
# setting and is on in both.
BEFORE = {"webhook_scan_ms": 200, "webhook_keepalive_ms": 5000}


def compare(endpoints: int, rate_per_s: float, seconds: float, rounds: int) -> dict[str, Any]:
    """Before and after settings in alternating runs (the same machine load for both)."""
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(rounds):
        runs["before"].append(bench_webhook_lag(endpoints, rate_per_s, seconds, NotificationSettings().model_copy(update=BEFORE)))
        runs["after"].append(bench_webhook_lag(endpoints, rate_per_s, seconds))
    return runs


def main() -> None:
    """`python -m podium.devtools.bench.notifications_lag --endpoints 1000 --rate 200 --seconds 20`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--failing", type=float, default=0.0, help="share of endpoints answering 500")
    parser.add_argument("--hanging", type=float, default=0.0, help="share of endpoints never answering")
    parser.add_argument("--compare", type=int, default=0, help="alternating rounds of the before/after settings")
    parser.add_argument("--before", default="", help='the "before" settings as JSON (default: this module\'s BEFORE)')
    args = parser.parse_args()
    if args.before:
        BEFORE.clear()
        BEFORE.update(json.loads(args.before))
    if args.compare:
        print(json.dumps(compare(args.endpoints, args.rate, args.seconds, args.compare), indent=1))
    else:
        print(json.dumps(bench_webhook_lag(args.endpoints, args.rate, args.seconds, None, args.failing, args.hanging),
                         indent=1))


if __name__ == "__main__":
    main()
