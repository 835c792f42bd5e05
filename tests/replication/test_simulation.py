"""A seeded, deterministic simulation of three regions replicating to the global tier over a bus
that loses, duplicates and reorders messages, with partitions and clock skew. After healing, the
global state equals an oracle computed straight from every accepted write: 0 lost, 0 double-counted.

Regions follow the shipper's protocol (an outbox with per-board sequence numbers; resend everything
after the acknowledged position; acks can be lost too); the global tier uses the production merge
(`with_change`, `resolve`). Replay a failure with its seed."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast

import pytest
from podium.replication.regional_state import RegionalState, resolve, with_change

from podium.clock import FakeClock
from podium.model import Operator, SortOrder

REGIONS = ["ap-south", "eu-west", "us-east"]
BOARDS = {"best": Operator.BEST, "latest": Operator.LATEST, "kills": Operator.INCREMENT}
STEPS = 1500
BATCH_MAX = 7


@dataclass
class Region:
    name: str
    skew_ms: int
    values: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)   # regional board state
    outbox: dict[str, list[tuple[int, str, int, int]]] = field(default_factory=lambda: defaultdict(list))
    acked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seq: int = 0

    def write(self, board: str, player: str, score: int, ts: int) -> None:
        op, old = BOARDS[board], self.values.get((board, player))
        if op is Operator.BEST:
            new = (score, ts) if old is None or score > old[0] or (score == old[0] and ts < old[1]) else None
        elif op is Operator.LATEST:
            new = (score, ts) if old is None or (ts, score) > (old[1], old[0]) else None
        else:
            new = ((old[0] if old else 0) + score, max(ts, old[1] if old else ts))
        if new is not None and new != old:
            self.values[(board, player)] = new
            self.seq += 1
            self.outbox[board].append((self.seq, player, new[0], new[1]))

    def unacked(self, board: str) -> list[tuple[int, str, int, int]]:
        return [c for c in self.outbox[board] if c[0] > self.acked[board]][:BATCH_MAX]


def run(seed: int, *, resend: bool = True) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], tuple[int, int] | None]]:
    rng = random.Random(seed)
    clock = FakeClock()
    regions = {r: Region(r, rng.randrange(-3000, 3000)) for r in REGIONS}
    global_state: dict[tuple[str, str], RegionalState] = defaultdict(dict)
    bus: list[tuple[str, str, object]] = []  # (kind, region, payload) in flight
    cut: set[str] = set()
    writes: list[tuple[str, str, str, int, int]] = []

    def deliver(msg: tuple[str, str, object]) -> None:
        kind, region, payload = msg
        if region in cut:
            return  # lost in the partition
        if kind == "batch":
            board, changes = cast(tuple[str, list[tuple[int, str, int, int]]], payload)
            for seq, player, score, ts in changes:
                key = (board, player)
                global_state[key] = with_change(global_state[key], region, score, ts, seq)
            bus.append(("ack", region, (board, changes[-1][0])))
        else:
            board, upto = cast(tuple[str, int], payload)
            regions[region].acked[board] = max(regions[region].acked[board], upto)

    def step(lossy: bool) -> None:
        clock.advance(rng.randrange(1, 50))
        action = rng.random()
        if lossy and action < 0.03:
            r = rng.choice(REGIONS)
            cut.symmetric_difference_update({r})
        elif action < 0.45:
            region = regions[rng.choice(REGIONS)]
            board = rng.choice(list(BOARDS))
            score = rng.randrange(1, 9) if board == "kills" else rng.randrange(0, 100)
            ts = clock.now_ms() + region.skew_ms  # a skewed regional clock stamps the achievement
            player = f"p{rng.randrange(12)}"
            region.write(board, player, score, ts)
            writes.append((region.name, board, player, score, ts))
        elif action < 0.7:
            region = regions[rng.choice(REGIONS)]
            for board in BOARDS:
                batch = region.unacked(board)
                if batch:
                    bus.append(("batch", region.name, (board, batch)))
                    if not resend:  # fire-and-forget: what the shipper must not do
                        region.acked[board] = batch[-1][0]
        elif bus:
            msg = bus.pop(rng.randrange(len(bus)))   # reordering: any in-flight message may go next
            if lossy and rng.random() < 0.2:
                return                                # lost
            if lossy and rng.random() < 0.2:
                bus.append(msg)                       # duplicated
            deliver(msg)

    for _ in range(STEPS):
        step(lossy=True)
    cut.clear()
    for _ in range(100_000):                          # heal: ship and deliver until every outbox is acked
        pending = any(r.unacked(b) for r in regions.values() for b in BOARDS)
        if not pending and not bus:
            break
        for region in regions.values():
            for board in BOARDS:
                batch = region.unacked(board)
                if batch:
                    bus.append(("batch", region.name, (board, batch)))
        while bus:
            deliver(bus.pop(rng.randrange(len(bus))))
    else:
        raise AssertionError("did not converge")

    want = oracle(writes)
    got = {key: resolve(BOARDS[key[0]], SortOrder.DESC, state) for key, state in global_state.items()}
    return want, got


def oracle(writes: list[tuple[str, str, str, int, int]]) -> dict[tuple[str, str], tuple[int, int]]:
    """Straight from the writes: best = max score (earliest time on ties); latest = newest time
    (higher score on ties); kills = the sum of every accepted increment, at the newest time."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for _, board, player, score, ts in writes:
        key, cur = (board, player), out.get((board, player))
        if board == "best":
            if cur is None or score > cur[0] or (score == cur[0] and ts < cur[1]):
                out[key] = (score, ts)
        elif board == "latest":
            if cur is None or (ts, score) > (cur[1], cur[0]):
                out[key] = (score, ts)
        else:
            out[key] = ((cur[0] if cur else 0) + score, max(ts, cur[1]) if cur else ts)
    return out


@pytest.mark.parametrize("seed", range(30))
def test_converges_to_oracle_after_healing(seed: int) -> None:
    want, got = run(seed)
    assert got == want
    kills_total = sum(v[0] for k, v in got.items() if k[0] == "kills" and v is not None)
    assert kills_total == sum(v[0] for k, v in want.items() if k[0] == "kills")   # 0 lost, 0 double-counted


def test_the_simulation_is_deterministic() -> None:
    assert run(3) == run(3)


def test_without_resend_the_simulation_detects_loss() -> None:
    """Fire-and-forget shipping over the lossy bus loses writes: the convergence check has teeth."""
    diverged = 0
    for seed in range(10):
        want, got = run(seed, resend=False)
        diverged += got != want
    assert diverged >= 8
