"""The compact member encoding keeps the tie rule: sorting members as Redis does (zscore, then member
bytes) gives exactly the tie-rule order (podium.ranking.sort_key), for any score within ±2^53, any
time below 2^48 and any player id, including ids whose byte order differs from a text order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podium.region.rank_store_redis import _lua
from redis.asyncio import Redis

from podium.invariant import InvariantError
from podium.model import ACHIEVED_AT_MAX_MS, SCORE_ABS_MAX, SortOrder
from podium.ranking import (
    TS_KEY_WIDTH,
    decode_legacy_member,
    decode_member,
    decode_scored,
    encode_member,
    from_zscore,
    sort_key,
    to_zscore,
    ts_from_key,
    ts_key,
)

times = st.one_of(st.integers(0, ACHIEVED_AT_MAX_MS), st.sampled_from([0, 1, 63, 64, 4095, 4096, ACHIEVED_AT_MAX_MS]),
                  st.integers(1_700_000_000_000, 1_700_000_000_200))
scores = st.one_of(st.integers(-SCORE_ABS_MAX, SCORE_ABS_MAX), st.integers(-3, 3),
                   st.sampled_from([SCORE_ABS_MAX, -SCORE_ABS_MAX, SCORE_ABS_MAX - 1]))
# Ids whose byte order is not a text order: case ('B' < 'a' as bytes, 'a' < 'B' in most locales),
# punctuation, prefixes, and non-ASCII (UTF-8 bytes follow code points, UTF-16 text does not:
# '\uff61' < '\U0001f600' as UTF-8, the other way round as UTF-16 code units).
id_chars = st.sampled_from(list("aAbBzZ09_-.:@") + ["\u00e9", "\uff61", "\U0001f600", "\u00c9"])
players = st.text(id_chars, min_size=1, max_size=6)
rows = st.lists(st.tuples(scores, times, players), min_size=1, max_size=40, unique_by=lambda r: r[2])


def _redis_order(rows: list[tuple[int, int, str]], order: SortOrder) -> list[str]:
    """How Redis orders a sorted set: by zscore (a double), then by member bytes (memcmp)."""
    keyed = [((float(to_zscore(s, order)), encode_member(t, p).encode()), p) for s, t, p in rows]
    return [p for _, p in sorted(keyed)]


@settings(max_examples=400, deadline=None)
@given(rows=rows, order=st.sampled_from(list(SortOrder)))
def test_member_order_is_the_tie_rule(rows: list[tuple[int, int, str]], order: SortOrder) -> None:
    want = [p for s, t, p in sorted(rows, key=lambda r: sort_key(r[0], r[1], r[2], order))]
    assert _redis_order(rows, order) == want


@settings(max_examples=400, deadline=None)
@given(a=times, b=times)
def test_time_keys_sort_as_times(a: int, b: int) -> None:
    ka, kb = ts_key(a), ts_key(b)
    assert len(ka) == TS_KEY_WIDTH and ka.isascii() and ka.isprintable()
    assert (ka.encode() < kb.encode()) == (a < b)
    assert ts_from_key(ka) == a


@given(t=times, player=players)
def test_members_round_trip(t: int, player: str) -> None:
    member = encode_member(t, player)
    assert decode_member(member) == (t, player) == decode_member(member.encode())
    assert len(member.encode()) == TS_KEY_WIDTH + len(player.encode())   # 5 bytes less than "<12 hex>:"


@pytest.mark.anyio
@pytest.mark.parametrize("order", list(SortOrder))
async def test_real_redis_orders_members_by_the_tie_rule(anyio_backend: str, any_redis: Redis, order: SortOrder) -> None:
    """The model `_redis_order` above is Redis' own order: a real sorted set (single node and
    cluster) ranks random rows, heavy in ties, exactly by the tie rule."""
    rng = random.Random(11)
    alphabet = "aAbBzZ09_-.:@\u00e9\u00c9\uff61\U0001f600"
    rows: dict[str, tuple[int, int]] = {}
    for _ in range(3000):
        player = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 5)))
        rows[player] = (rng.choice([rng.randrange(-3, 4), SCORE_ABS_MAX, -SCORE_ABS_MAX, SCORE_ABS_MAX - 1]),
                        rng.choice([0, 1, 64, ACHIEVED_AT_MAX_MS, 1_700_000_000_000 + rng.randrange(3)]))
    key = "{enc}:z"
    await any_redis.zadd(key, {encode_member(t, p): to_zscore(s, order) for p, (s, t) in rows.items()})
    got = [decode_member(m)[1] for m in await any_redis.zrange(key, 0, -1)]
    want = sorted(rows, key=lambda p: sort_key(rows[p][0], rows[p][1], p, order))
    assert got == want
    # the rows do hold ids whose byte order is not their text order (case, UTF-16), so a text order
    # would have failed the comparison above
    assert sorted(want, key=str.casefold) != sorted(want, key=str.encode)
    assert sorted(want, key=lambda p: p.encode("utf-16-be")) != sorted(want, key=str.encode)


def test_legacy_members_still_decode() -> None:
    assert decode_legacy_member(b"000000000010:p1") == (16, "p1")
    assert decode_legacy_member("0190abcdef12:a:b") == (0x0190ABCDEF12, "a:b")


@pytest.mark.parametrize("bad", ["", "short", "~~~~~~~~p"])
def test_malformed_members_are_refused(bad: str) -> None:
    with pytest.raises(InvariantError):
        decode_member(bad)


LUA_KEYS = """
local out = {}
for i = 1, #ARGV do
  local n = tonumber(ARGV[i])
  out[#out + 1] = ts_key(n)
  out[#out + 1] = ts_num(ts_key(n))
  out[#out + 1] = ts_hex(n)
end
return out
"""


@pytest.mark.anyio
async def test_lua_time_keys_equal_python_ones(anyio_backend: str, redis_single: Redis) -> None:
    """Scripts build members from the same keys Python does (index.lua's ts_key, ts_num, ts_hex)."""
    rng = random.Random(7)
    values = [0, 1, 63, 64, 65, 4095, 4096, 2**47, ACHIEVED_AT_MAX_MS - 1, ACHIEVED_AT_MAX_MS]
    values += [rng.randrange(ACHIEVED_AT_MAX_MS + 1) for _ in range(300)]
    # every digit of the alphabet at every place (ts_num decodes digits by arithmetic on their bytes)
    values += [v for v in (d * 64**k for k in range(8) for d in range(64)) if v <= ACHIEVED_AT_MAX_MS]
    raw = await redis_single.eval(_lua("index") + LUA_KEYS, 0, *values)
    for i, t in enumerate(values):
        assert raw[3 * i].decode() == ts_key(t)
        assert int(raw[3 * i + 1]) == t
        assert raw[3 * i + 2].decode() == format(t, "012x")


def _zscore_text(zscore: int) -> bytes:
    return b"%.17g" % float(zscore)   # how Redis prints a sorted-set score


@given(st.lists(st.tuples(scores, times, players), max_size=30), st.sampled_from(list(SortOrder)), st.booleans())
def test_decode_scored_is_decode_member_and_from_zscore(entries: list[tuple[int, int, str]], order: SortOrder,
                                                       as_bytes: bool) -> None:
    flat: list[bytes | str] = []
    for score, ts, player in entries:
        member, zs = encode_member(ts, player).encode(), _zscore_text(to_zscore(score, order))
        flat += [member, zs] if as_bytes else [member.decode(), zs.decode()]
    oracle = [(decode_member(m)[1], from_zscore(float(z), order), decode_member(m)[0])
              for m, z in zip(flat[0::2], flat[1::2], strict=True)]
    assert decode_scored(flat, order) == oracle == [(p, s, t) for s, t, p in entries]


@pytest.mark.parametrize("member, zscore", [(b"--------", b"1"), (b"short", b"1"), (b"\x01\x02-------p", b"1"),
                                            (encode_member(5, "p").encode(), b"1.5"),
                                            (encode_member(5, "p").encode(), b"-2.5")])
def test_decode_scored_refuses_what_decode_member_or_from_zscore_refuse(member: bytes, zscore: bytes) -> None:
    with pytest.raises(InvariantError):
        decode_scored([member, zscore], SortOrder.DESC)
