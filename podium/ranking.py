"""The tie rule and how it is encoded in a Redis sorted set.

Tie rule (total order): better score first; on equal scores the earlier achievement time first;
then the smaller player id (byte order). Ranks are 1-based ordinal positions, so no two entries
share a rank.

Encoding. A sorted-set score is an IEEE double: exact for every integer up to 2^53, but with no
room left to pack a timestamp into it. So the tie data lives in the *member*:

    zscore = -score on descending boards, +score on ascending boards
    member = time key (8 characters) + player

The time key is the achievement time in milliseconds (< 2^48) written as 8 base-64 digits whose
alphabet `TS_ALPHABET` is in ASCII order, so byte order of keys equals numeric order of times: 5
bytes shorter than 12 hex digits and a separator, still printable. Redis orders equal zscores by
member bytes (memcmp): the fixed-width key first, then the player id's bytes, which is the tie rule.
Negating the score on descending boards turns every board into an ascending one, so rank = ZRANK + 1
and the top of any board is ZRANGE 0 n-1, and the tie rule is the same on both orders. Negation is
exact for doubles, so scores stay exact for |score| <= 2^53 and achievement times up to 2^48-1 ms.

A player's member is found through the board's player index (podium/lua/index.lua): player -> time
key, in small hashes Redis keeps as compact ziplists/listpacks. See docs/write-path.md.

The previous encoding (`LEGACY`: "<12 hex digits>:<player>" with one index hash of hex times) is
only read to migrate a board (RedisRankStore.upgrade); nothing writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from podium.invariant import InvariantError, invariant
from podium.model import ACHIEVED_AT_MAX_MS, SCORE_ABS_MAX, SortOrder

TS_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
TS_KEY_WIDTH = 8
LEGACY_TS_HEX_WIDTH = 12


def encode_ts(achieved_at_ms: int) -> str:
    """12 hex digits: the time as the change stream, quarantine and history backlog carry it."""
    invariant(0 <= achieved_at_ms <= ACHIEVED_AT_MAX_MS, "achievement time out of encodable range")
    return format(achieved_at_ms, "012x")


# every pair of digits (12 bits): a key is four lookups, not eight divisions (the global merge
# encodes two members per changed entry)
_PAIRS = [a + b for a in TS_ALPHABET for b in TS_ALPHABET]


def ts_key(achieved_at_ms: int) -> str:
    """The member's fixed-width time prefix (byte order = numeric order)."""
    invariant(0 <= achieved_at_ms <= ACHIEVED_AT_MAX_MS, "achievement time out of encodable range")
    p = _PAIRS
    return p[achieved_at_ms >> 36] + p[(achieved_at_ms >> 24) & 4095] + p[(achieved_at_ms >> 12) & 4095] \
        + p[achieved_at_ms & 4095]


_PAIR_VALUE = {pair: i for i, pair in enumerate(_PAIRS)}


def ts_from_key(key: str) -> int:
    """`ts_key`'s inverse: four pair lookups (an around-me read decodes 25 members)."""
    p = _PAIR_VALUE
    if len(key) == TS_KEY_WIDTH:
        try:
            return (p[key[0:2]] << 36) | (p[key[2:4]] << 24) | (p[key[4:6]] << 12) | p[key[6:8]]
        except KeyError:
            pass   # a character outside the alphabet
    raise InvariantError(f"malformed time key {key!r}")


def encode_member(achieved_at_ms: int, player: str) -> str:
    return ts_key(achieved_at_ms) + player


def decode_member(member: str | bytes) -> tuple[int, str]:
    """Return (achieved_at_ms, player) from a sorted-set member."""
    text = member.decode() if isinstance(member, bytes) else member
    invariant(len(text) > TS_KEY_WIDTH, f"malformed member {text!r}")
    return ts_from_key(text[:TS_KEY_WIDTH]), text[TS_KEY_WIDTH:]


def decode_scored(flat: Sequence[bytes | str], order: SortOrder) -> list[tuple[str, int, int]]:
    """(player, score, achieved_at_ms) of each (member, zscore) pair of a flat WITHSCORES reply, as
    `decode_member` and `from_zscore` give them, with their checks, at a third of their cost per
    pair (a top-100 read decodes 100 pairs, an around-me read 25): no message built per call, and
    the zscore read by int() (Redis prints an integral double below 2^53 as plain digits)."""
    sign = -1 if order is SortOrder.DESC else 1
    p = _PAIR_VALUE
    out = []
    for member, zscore in zip(flat[0::2], flat[1::2], strict=True):
        text = member.decode() if isinstance(member, bytes) else member
        try:
            value = int(zscore)
            ts = (p[text[0:2]] << 36) | (p[text[2:4]] << 24) | (p[text[4:6]] << 12) | p[text[6:8]]
        except (ValueError, KeyError):
            value = from_zscore(float(zscore), SortOrder.ASC)   # raises on a non-integer zscore
            ts = ts_from_key(text[:TS_KEY_WIDTH])   # raises on a malformed key
        if len(text) <= TS_KEY_WIDTH:
            raise InvariantError(f"malformed member {text!r}")
        out.append((text[TS_KEY_WIDTH:], sign * value, ts))
    return out


def decode_legacy_member(member: str | bytes) -> tuple[int, str]:
    """Return (achieved_at_ms, player) from a member of the previous encoding ("<ts hex>:<player>")."""
    text = member.decode() if isinstance(member, bytes) else member
    w = LEGACY_TS_HEX_WIDTH
    invariant(len(text) > w and text[w] == ":", f"malformed legacy member {text!r}")
    return int(text[:w], 16), text[w + 1 :]


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
