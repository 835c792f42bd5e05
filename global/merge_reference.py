"""The global merge in Python (the default), and the model that podium/lua/global_merge.lua implements.

One read round trip and one write pipeline per batch, with podium/replication/regional_state.py's
functions; `GlobalStore` serializes it per board. With `global_.merge_in_redis` the script does the
same merge in one EVALSHA instead. tests/global_/test_global_merge_lua.py replays random multi-region
histories through both on a real Redis and requires byte-equal states, sorted sets, applied marks
and conflict logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from podium.replication.changes import Change
from podium.replication.regional_state import TOMBSTONE_TS, RegionalState, live, resolve, winner, with_change

from podium.model import Board, Operator
from podium.ranking import encode_member, to_zscore
from podium.redis_client import AnyRedis

CONFLICTS_LEN_MAX = 10_000   # conflict log entries kept per board
CONFLICT_COUNTS_KEY = "pg:conflicts:count"


def _prefix(board_id: str, season: int) -> str:
    return f"pg:{{{board_id}}}:{season}:"


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two regions wrote the same `latest` entry concurrently (neither version vector dominates);
    the application rule (achievement time, then higher score, then region id) picked `winner`."""

    player: str
    winner: str
    loser: str
    winner_value: tuple[int, int]
    loser_value: tuple[int, int]


async def apply_reference(redis: AnyRedis, board: Board, changes: Sequence[Change]) -> int:
    """Merge regional changes of one board; returns how many merged entries changed."""
    if not changes:
        return 0
    p = _prefix(board.id, board.season)
    players = sorted({c.player for c in changes})
    async with redis.pipeline(transaction=False) as read:
        read.hmget(p + "st", players)
        read.hgetall(p + "applied")
        raw, applied_raw = await read.execute()
    states: dict[str, RegionalState] = {
        pl: _decode(v) for pl, v in zip(players, raw, strict=True)
    }
    applied = {_text(k): int(v) for k, v in applied_raw.items()}
    old_states = dict(states)
    conflicts: list[Conflict] = []
    for c in changes:
        prior = states[c.player]
        ts = TOMBSTONE_TS if c.removed else c.achieved_at_ms
        states[c.player] = with_change(prior, c.region, c.score, ts, c.seq)
        if board.operator is Operator.LATEST and states[c.player] is not prior:
            conflicts += _conflicts(board, c.player, prior, states[c.player], c.region)
    # One command per kind for the whole batch (not three per player): the merge costs a
    # few round-trip packets, whatever the batch size. Removals go before additions, so
    # an entry whose member is unchanged (same time, new score) is re-added.
    written: dict[str, bytes] = {}
    removed: list[str] = []
    added: dict[str, float] = {}
    changed = 0
    for pl, st in states.items():
        if st is old_states[pl]:
            continue
        # every region's contribution is kept, even one that does not win today:
        # counters sum them, anti-entropy digests compare them
        written[pl] = _encode(st)
        previous = resolve(board.operator, board.order, old_states[pl])
        after = resolve(board.operator, board.order, st)
        if after == previous:
            continue
        changed += 1
        if previous is not None:
            removed.append(encode_member(previous[1], pl))
        if after is not None:
            added[encode_member(after[1], pl)] = to_zscore(after[0], board.order)
    async with redis.pipeline(transaction=False) as pipe:
        if written:
            pipe.hset(p + "st", mapping=written)  # type: ignore[arg-type]
        if removed:
            pipe.zrem(p + "z", *removed)
        if added:
            pipe.zadd(p + "z", added)
        newer = {r: seq for r, seq in _newest_per_region(changes).items() if seq > applied.get(r, 0)}
        if newer:
            pipe.hset(p + "applied", mapping=newer)  # type: ignore[arg-type]
        if changed:
            pipe.incr(p + "ver")  # subscriptions watch this to know the board moved
        for k in conflicts:
            pipe.xadd(p + "conflicts", {"player": k.player, "winner": k.winner, "loser": k.loser,
                                        "winner_value": f"{k.winner_value[0]}@{k.winner_value[1]}",
                                        "loser_value": f"{k.loser_value[0]}@{k.loser_value[1]}"},
                      maxlen=CONFLICTS_LEN_MAX, approximate=True)
        if conflicts:
            pipe.hincrby(CONFLICT_COUNTS_KEY, board.id, len(conflicts))
        await pipe.execute()
    return changed


def _conflicts(board: Board, player: str, before: RegionalState, after: RegionalState, incoming: str) -> list[Conflict]:
    """A write from `incoming` is concurrent with every other region's write of the entry: region
    sequences are independent counters, so the vectors {incoming: n} and {other: m} never dominate
    each other. Logged when the two values differ (equal values are no conflict)."""
    out = []
    new = after[incoming]
    if new[1] == TOMBSTONE_TS:
        return []   # a removal is no concurrent value
    for region, value in live(before).items():
        if region == incoming or (value[0], value[1]) == (new[0], new[1]):
            continue
        won = winner(board.operator, board.order, {region: value, incoming: new})
        lose = incoming if won == region else region
        out.append(Conflict(player, won or region, lose, (after[won or region][0], after[won or region][1]),
                            (after[lose][0], after[lose][1])))
    return out


def _newest_per_region(changes: Sequence[Change]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in changes:
        out[c.region] = max(out.get(c.region, 0), c.seq)
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode(state: RegionalState) -> bytes:
    return orjson.dumps({r: list(v) for r, v in state.items()})


def _decode(raw: bytes | str | None) -> RegionalState:
    if raw is None:
        return {}
    return {r: (v[0], v[1], v[2]) for r, v in orjson.loads(raw).items()}
