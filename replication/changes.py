"""Regional changes as shipped to the global tier.

A change is *state*, not a delta: the entry's new regional value (for counter boards the region's
running total), its achievement time, and the region's sequence number for that board. The global
tier keeps, per (board, player), the latest value of each region by sequence, so receiving a change
twice, late or out of order changes nothing: shipping is at-least-once, the effect exactly-once.

The sequence comes from the board's change-stream id `<ms>-<n>` (monotonic per board in Redis):
seq = ms * 2^16 + n, so it orders changes of one region and feeds that region's version-vector
component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podium.invariant import invariant

SEQ_SUB_BITS = 16
REMOVED_MARK = "x"   # in a change-stream line's score field: the region removed the entry (delete, ban)


def stream_id_to_seq(stream_id: str | bytes) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, n = text.partition("-")
    sub = int(n or 0)
    invariant(sub < 2**SEQ_SUB_BITS, "too many change-stream entries in one millisecond")
    return (int(ms) << SEQ_SUB_BITS) | sub


def seq_to_stream_id(seq: int) -> str:
    return f"{seq >> SEQ_SUB_BITS}-{seq & (2**SEQ_SUB_BITS - 1)}"


@dataclass(frozen=True, slots=True)
class Change:
    region: str
    board: str
    season: int
    player: str
    score: int
    achieved_at_ms: int
    seq: int
    removed: bool = False   # a tombstone: the region no longer holds the entry (score is 0)

    def to_wire(self) -> list[Any]:
        row: list[Any] = [self.board, self.season, self.player, self.score, self.achieved_at_ms, self.seq]
        return [*row, 1] if self.removed else row

    @classmethod
    def from_wire(cls, region: str, row: list[Any]) -> Change:
        # exact types (decoded JSON has no subclasses; `bool` is refused as an integer): the global
        # tier decodes every change of a burst here, so the checks are the cheapest that hold
        if type(row) is not list or len(row) not in (6, 7) or (len(row) == 7 and row[6] != 1):
            raise ValueError("a change is [board, season, player, score, achieved_at, seq] (+ 1 when removed)")
        board, season, player, score, ts, seq = row[:6]
        if type(season) is not int or type(score) is not int or type(ts) is not int or type(seq) is not int:
            raise ValueError("change fields season, score, achieved_at and seq must be integers")
        if type(board) is not str or type(player) is not str:
            raise ValueError("change board and player must be strings")
        return cls(region, board, season, player, score, ts, seq, len(row) == 7)


def parse_stream_entry(region: str, board: str, season: int, stream_id: bytes | str, data: bytes | str) -> list[Change]:
    """Changes packed by podium/lua/apply.lua: lines of `player \\t score \\t ts_hex` (score `x`:
    the entry was removed, see `RedisRankStore.remove_player`). A player changed twice in one apply
    call shares the entry's seq, so only the last line (the final state) is kept."""
    seq = stream_id_to_seq(stream_id)
    text = data.decode() if isinstance(data, bytes) else data
    last: dict[str, Change] = {}
    for line in text.split("\n"):
        player, score, ts_hex = line.split("\t")
        if score == REMOVED_MARK:
            last[player] = Change(region, board, season, player, 0, int(ts_hex, 16), seq, removed=True)
        else:
            last[player] = Change(region, board, season, player, int(score), int(ts_hex, 16), seq)
    return list(last.values())
