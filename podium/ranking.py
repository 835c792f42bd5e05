"""The tie rule and how it is encoded in a Redis sorted set.

Tie rule (total order): better score first; on equal scores the earlier achievement time first;
then the smaller player id (byte order). Ranks are 1-based ordinal positions, so no two entries
share a rank.

Encoding. A sorted-set score is an IEEE double: exact for every integer up to 2^53, but with no
room left to pack a timestamp into it. So the tie data lives in the *member*:

    zscore = -score on descending boards, +score on ascending boards
    member = "%012x:%s" % (achieved_at_ms, player)

Redis orders equal zscores by member bytes (memcmp). The timestamp is fixed-width lowercase hex,
so byte order equals numeric order; after it comes the player id. Negating the score on
descending boards turns every board into an ascending one, so rank = ZRANK + 1 and the top of
any board is ZRANGE 0 n-1, and the tie rule is the same on both orders. Negation is exact for
doubles, so scores stay exact for |score| <= 2^53 and achievement times up to 2^48-1 ms.

A per-board hash maps player -> timestamp hex, so a player's member can be rebuilt in O(1).
"""

from __future__ import annotations

from podium.invariant import invariant
from podium.model import ACHIEVED_AT_MAX_MS, SCORE_ABS_MAX, SortOrder

TS_HEX_WIDTH = 12


def encode_ts(achieved_at_ms: int) -> str:
    invariant(0 <= achieved_at_ms <= ACHIEVED_AT_MAX_MS, "achievement time out of encodable range")
    return format(achieved_at_ms, "012x")


def encode_member(achieved_at_ms: int, player: str) -> str:
    return f"{encode_ts(achieved_at_ms)}:{player}"


def decode_member(member: str | bytes) -> tuple[int, str]:
    """Return (achieved_at_ms, player) from a sorted-set member."""
    text = member.decode() if isinstance(member, bytes) else member
    invariant(len(text) > TS_HEX_WIDTH and text[TS_HEX_WIDTH] == ":", f"malformed member {text!r}")
    return int(text[:TS_HEX_WIDTH], 16), text[TS_HEX_WIDTH + 1 :]


def to_zscore(score: int, order: SortOrder) -> int:
    invariant(-SCORE_ABS_MAX <= score <= SCORE_ABS_MAX, "score out of exact range")
    return -score if order is SortOrder.DESC else score


def from_zscore(zscore: float, order: SortOrder) -> int:
    value = int(zscore)
    invariant(value == zscore, "non-integer zscore on a board")
    return -value if order is SortOrder.DESC else value


def sort_key(score: int, achieved_at_ms: int, player: str, order: SortOrder) -> tuple[int, int, bytes]:
    """The total order as a Python key (smaller sorts first = better rank)."""
    return (to_zscore(score, order), achieved_at_ms, player.encode())


def is_better(score_a: int, score_b: int, order: SortOrder) -> bool:
    return score_a > score_b if order is SortOrder.DESC else score_a < score_b
