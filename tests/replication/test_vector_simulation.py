"""Seeded deterministic simulation over the version-vector core (`replication.merge`): three
regions with skewed clocks write to `best`, `latest` and counter boards; a bus loses, duplicates
and reorders messages, with partitions; regions retransmit from a durable outbox until acked, and
the global tier gossips merged states back (so later writes causally supersede earlier ones).
After healing, the global state equals the oracle: 0 lost and 0 double-counted. Replay with the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from podium.replication import vectors as vv
from podium.replication.merge import (
    EntryState,
    RegionalWrite,
    conflict,
    merge,
    resolve,
    state_vector,
    with_write,
)

from podium.clock import FakeClock
from podium.model import Operator, SortOrder
from podium.ranking import sort_key

REGIONS = ["ap-south", "eu-west", "us-east"]
BOARDS = {"best": Operator.BEST, "latest": Operator.LATEST, "kills": Operator.INCREMENT}
PLAYERS = [f"p{i}" for i in range(6)]
STEPS = 1200
BATCH_MAX = 5
RESEND_MS = 40
HEAL_STEPS_MAX = 20_000
Key = tuple[str, str]


@dataclass
class Region:
    name: str
    skew_ms: int
    local: dict[Key, EntryState] = field(default_factory=dict)
    outbox: list[tuple[Key, RegionalWrite]] = field(default_factory=list)  # index = seq - 1
    acked: int = 0
    last_send_ms: int = -RESEND_MS


@dataclass
class Sim:
    rng: random.Random
    clock: FakeClock = field(default_factory=FakeClock)
    regions: dict[str, Region] = field(default_factory=dict)
    bus: list[tuple[int, int, tuple[object, ...]]] = field(default_factory=list)  # (due, tiebreak, msg)
    glob: dict[Key, EntryState] = field(default_factory=dict)
    received: dict[str, set[int]] = field(default_factory=lambda: {r: set() for r in REGIONS})
    cut: set[str] = field(default_factory=set)
    lossy: bool = True
    deltas: dict[Key, int] = field(default_factory=dict)
    best_oracle: dict[Key, tuple[tuple[int, int, bytes], int, int]] = field(default_factory=dict)
    writes: list[tuple[Key, RegionalWrite]] = field(default_factory=list)

    def send(self, msg: tuple[object, ...], via: str) -> None:
        if via in self.cut or (self.lossy and self.rng.random() < 0.2):
            return
        for _ in range(2 if self.lossy and self.rng.random() < 0.1 else 1):
            due = self.clock.now_ms() + self.rng.randint(1, 60)  # random delays reorder messages
            self.bus.append((due, self.rng.getrandbits(30), msg))

    def write(self, r: Region) -> None:
        board = self.rng.choice(list(BOARDS))
        key = (board, self.rng.choice(PLAYERS))
        state = r.local.get(key, {})
        own = state.get(r.name)
        ts = self.clock.now_ms() + r.skew_ms
        value = self.rng.randint(-20, 100)
        if BOARDS[board] is Operator.INCREMENT:
            self.deltas[key] = self.deltas.get(key, 0) + value
            value += own.score if own else 0
        elif BOARDS[board] is Operator.BEST:
            sk = sort_key(value, ts, r.name, SortOrder.DESC)
            cur = self.best_oracle.get(key)
            if cur is None or sk < cur[0]:
                self.best_oracle[key] = (sk, value, ts)
            if own and sort_key(own.score, own.achieved_at_ms, r.name, SortOrder.DESC) <= sk:
                return  # not a new regional best: nothing changes, nothing ships
        w = RegionalWrite(r.name, value, ts, vv.increment(state_vector(state), r.name))
        r.local[key] = with_write(state, w)
        r.outbox.append((key, w))
        self.writes.append((key, w))

    def ship(self, r: Region) -> None:
        if r.acked < len(r.outbox) and self.clock.now_ms() - r.last_send_ms >= RESEND_MS:
            r.last_send_ms = self.clock.now_ms()
            first = r.acked + 1
            self.send(("batch", r.name, first, r.outbox[r.acked : r.acked + BATCH_MAX]), r.name)

    def deliver(self, msg: tuple[object, ...]) -> None:
        if msg[0] == "batch":
            _, name, first, items = msg
            for i, (key, w) in enumerate(items):  # type: ignore[arg-type]
                self.glob[key] = with_write(self.glob.get(key, {}), w)
                self.received[name].add(first + i)  # type: ignore[operator]
            got = self.received[name]  # type: ignore[index]
            ack = self.regions[name].acked  # type: ignore[index]
            while ack + 1 in got:
                ack += 1
            self.send(("ack", name, ack), name)  # type: ignore[arg-type]
            # gossip one merged entry back, so later regional writes see other regions' writes
            key = items[0][0]  # type: ignore[index]
            self.send(("state", name, key, dict(self.glob[key])), name)  # type: ignore[arg-type]
        elif msg[0] == "ack":
            r = self.regions[str(msg[1])]
            r.acked = max(r.acked, int(msg[2]))  # type: ignore[call-overload]  # stale acks never regress
        else:
            r = self.regions[str(msg[1])]
            key = msg[2]  # type: ignore[assignment]
            r.local[key] = merge(r.local.get(key, {}), msg[3])  # type: ignore[arg-type, index]

    def tick(self) -> None:
        self.clock.advance(self.rng.randint(1, 10))
        due = [m for m in self.bus if m[0] <= self.clock.now_ms()]
        self.bus = [m for m in self.bus if m[0] > self.clock.now_ms()]
        for _, _, msg in sorted(due, key=lambda m: m[1]):  # random order among due messages
            self.deliver(msg)
        for r in self.regions.values():
            self.ship(r)


@pytest.mark.parametrize("seed", range(8))
def test_three_regions_converge_to_the_oracle(seed: int) -> None:
    rng = random.Random(seed)
    sim = Sim(rng)
    sim.regions = {n: Region(n, rng.randint(-2000, 2000)) for n in REGIONS}  # clock skew
    for step in range(STEPS):
        if step % 200 == 0:
            sim.cut = {n for n in REGIONS if rng.random() < 0.4}  # partitions come and go
        if rng.random() < 0.5:
            sim.write(rng.choice(list(sim.regions.values())))
        sim.tick()
    sim.cut, sim.lossy = set(), False  # heal
    for _ in range(HEAL_STEPS_MAX):
        if all(r.acked == len(r.outbox) for r in sim.regions.values()):
            break
        sim.tick()
    else:
        pytest.fail(f"seed {seed}: outboxes did not drain after healing")

    # the global state is exactly the join of every write ever made, whatever the delivery history
    oracle_state: dict[Key, EntryState] = {}
    for key, w in sim.writes:
        oracle_state[key] = with_write(oracle_state.get(key, {}), w)
    assert sim.glob == oracle_state
    for key, state in sim.glob.items():
        op = BOARDS[key[0]]
        got = resolve(op, SortOrder.DESC, state)
        assert got is not None
        if op is Operator.INCREMENT:
            assert got.score == sim.deltas[key], (seed, key)  # 0 lost, 0 double-counted
        elif op is Operator.BEST:
            _, score, ts = sim.best_oracle[key]
            assert (got.score, got.achieved_at_ms) == (score, ts), (seed, key)
    for key, total in sim.deltas.items():
        assert key in sim.glob or total == 0
    # conflicts did occur and are reproducible from the state alone
    conflicts = [conflict(Operator.LATEST, SortOrder.DESC, s) for k, s in sim.glob.items() if k[0] == "latest"]
    assert any(c is not None for c in conflicts)
