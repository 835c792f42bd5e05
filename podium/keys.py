"""Redis key layout. Every key of a board carries the hash tag `{board id}`, so a board's keys
live in one Redis Cluster slot and one Lua script can touch them all atomically.

    pb:{B}:<season>:z      sorted set: zscore = ±score, member = <8-char time key><player> (podium.ranking)
    pb:{B}:<season>:x      hash: the player index's state (l, p, n, k: see podium/lua/index.lua)
    <k>:<bucket>           hashes: player -> time key, the player index's buckets (k = "pb:{B}:<season>:x:<gen>",
                           so they share the board's hash tag); a rebuild or clear starts a new <gen>
    pb:{B}:<season>:i      hash: player -> ts hex, the index of the previous encoding (only read by an upgrade)
    pb:{B}:<season>:chg    stream: applied changes, one entry per apply call (subscriptions, replication)
    pb:{B}:dd:<window>     set: event ids seen in one dedup window (expires after two windows)
    pb:{B}:dm:<minute>     hash: player -> score delta this minute (anti-cheat; expires)
    pb:{B}:q               stream: quarantined entries (bounded)
    pb:{B}:off             hash: stream partition -> last applied offset (effect-level exactly-once)
    pb:{B}:ban             set: banned players
    pb:{B}:hist            stream: accepted scores not yet in the warm store (history backlog;
                           consumer group "history", entries deleted once written)
A season reset only bumps the season, so earlier seasons stay readable under their old keys.

    podium:boards          hash: board id -> definition (JSON)
    podium:rebuilding      hash: board id -> "<lease deadline ms>:<token>" while a rebuild holds it
    podium:data-mark       string: present while Redis holds the region's data (see RegionService)
    podium:snapshot-tick:<n>   string: the process that takes the n-th periodic snapshot (expires)
    pb:{B}:<season>:z:rb:<token>, …:x:rb:<token>   a board being rebuilt aside (expiring; swapped in)
"""

from __future__ import annotations

from dataclasses import dataclass

from podium.model import Board

BOARDS_KEY = "podium:boards"
REBUILDING_KEY = "podium:rebuilding"
DATA_MARK_KEY = "podium:data-mark"   # set by every region process at start: its absence means Redis lost its data


@dataclass(frozen=True, slots=True)
class BoardKeys:
    zset: str
    index: str
    changes: str
    quarantine: str
    offsets: str
    banned: str
    history: str
    legacy_index: str
    prefix: str

    def dedup(self, window: int) -> str:
        return f"{self.prefix}dd:{window}"

    def delta(self, minute: int) -> str:
        return f"{self.prefix}dm:{minute}"


def board_keys(board_id: str, season: int) -> BoardKeys:
    prefix = f"pb:{{{board_id}}}:"
    return BoardKeys(
        zset=f"{prefix}{season}:z",
        index=f"{prefix}{season}:x",
        changes=f"{prefix}{season}:chg",
        quarantine=f"{prefix}q",
        offsets=f"{prefix}off",
        banned=f"{prefix}ban",
        history=f"{prefix}hist",
        legacy_index=f"{prefix}{season}:i",
        prefix=prefix,
    )


def keys_of(board: Board) -> BoardKeys:
    return board_keys(board.id, board.season)
