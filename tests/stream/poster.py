"""A game server for the failure tests: posts increment batches in a thread, retrying each until it is
acknowledged, and keeps the oracle of what it was told was accepted (the acknowledgements, never the
broker's log)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

import httpx

from tests.region.helpers import entry, post_scores, top
from tests.stream.conftest import wait_until


class Poster:
    """Posts increment batches until stopped; `oracle` sums the acknowledged entries only."""

    def __init__(self, base: str, board: str, players: int, batch: int, pause_s: float = 0.05) -> None:
        self.base, self.board, self.players, self.batch, self.pause_s = base, board, players, batch, pause_s
        self.oracle: dict[str, int] = {}
        self.batches_acked = 0
        self.ack_times: list[float] = []      # time.monotonic() of each acknowledgement
        self.failures = 0
        self.error: BaseException | None = None
        self.last_failure = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.post_one()
                time.sleep(self.pause_s)   # paced: the test waits on the worker catching up, not on load
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test by acked()
            self.error = exc

    def acked(self, at_least: int) -> bool:
        """True once `at_least` batches are acknowledged; raises what stopped the poster thread."""
        if self.error is not None:
            raise AssertionError(f"the poster stopped: {self.error!r}")
        return self.batches_acked >= at_least

    def post_one(self) -> None:
        entries = []
        for _ in range(self.batch):
            self._n += 1
            entries.append(entry(self.board, f"p{self._n % self.players}", self._n % 7 + 1))
        while True:   # the same batch (same event ids) until acknowledged: a game server's retry
            try:
                r = post_scores(self.base, {"entries": entries})
            except httpx.HTTPError as exc:
                r, self.last_failure = None, repr(exc)
            if r is not None and r.status_code == 200:
                assert {x["status"] for x in r.json()["results"]} == {"accepted"}, r.text
                break
            if r is not None:
                self.last_failure = f"{r.status_code} {r.text[:300]}"
            self.failures += 1
            time.sleep(0.1)
        for e in entries:
            self.oracle[e["player"]] = self.oracle.get(e["player"], 0) + e["score"]
        self.batches_acked += 1
        self.ack_times.append(time.monotonic())

    def wait_acked(self, at_least: int, timeout_s: float = 60) -> None:
        try:
            wait_until(lambda: self.acked(at_least), timeout_s)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last failure: {self.last_failure}") from exc

    def longest_ack_gap_s(self, since: float) -> float:
        """The longest time without an acknowledgement after `since` (a fault's time to recover)."""
        times = [since] + [t for t in self.ack_times if t > since]
        return max((b - a for a, b in itertools.pairwise(times)), default=float("nan"))

    def start(self) -> Poster:
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join(timeout=60)
        return dict(self.oracle)


@dataclass(frozen=True)
class Tally:
    """How a board differs from the acknowledgements: score units missing (lost) and extra (doubled)."""

    players: int
    lost: int
    doubled: int


def board_scores(base: str, board: str) -> dict[str, int]:
    return {x["player"]: x["score"] for x in top(base, board, 1000)}


def tally(got: dict[str, int], oracle: dict[str, int]) -> Tally:
    players = set(got) | set(oracle)
    lost = sum(max(0, oracle.get(p, 0) - got.get(p, 0)) for p in players)
    doubled = sum(max(0, got.get(p, 0) - oracle.get(p, 0)) for p in players)
    return Tally(len(players), lost, doubled)


def wait_equal(base: str, board: str, oracle: dict[str, int], timeout_s: float = 60) -> None:
    """Wait until the board equals the oracle exactly; fail with what differs."""
    try:
        wait_until(lambda: board_scores(base, board) == oracle, timeout_s, 0.25)
    except AssertionError:
        got = board_scores(base, board)
        diff = {p: (got.get(p), v) for p, v in oracle.items() if got.get(p) != v}
        raise AssertionError(f"{len(diff)} players differ from the oracle (got, want), {tally(got, oracle)}: "
                             f"{dict(list(diff.items())[:10])}") from None
