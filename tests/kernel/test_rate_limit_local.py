"""The in-process token buckets (podium.rate_limit_local.BucketTable) against an exact oracle: a
token bucket written the other way round (the level at t is the least, over every moment the bucket
may last have been full, of the burst plus the refill since minus what was taken since), in exact
fractions, with least-recently-charged eviction worked out from the whole history."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from podium.clock import FakeClock
from podium.errors import RateLimited
from podium.rate_limit_local import BucketTable

Event = tuple[int, str, int]   # (ms since the previous event, key, cost)


def oracle(events: list[Event], rate: Fraction, burst: int, keys_max: int) -> list[float | None]:
    """Per event: None when allowed, else the retry time in seconds."""
    allowed: list[tuple[int, str, int]] = []   # (at ms, key, cost) of every take let through
    answers: list[float | None] = []
    now = 0
    for step, key, cost in events:
        now += step
        # the key's takes since it was last evicted: it is evicted once keys_max other keys were
        # charged after its last take
        segment: list[int] = []
        boundary = len(allowed)
        for i in range(len(allowed) - 1, -1, -1):
            if allowed[i][1] != key:
                continue
            others = {allowed[j][1] for j in range(i + 1, boundary)} - {key}
            if len(others) >= keys_max:
                break
            segment.insert(0, i)
            boundary = i
        level = Fraction(burst)
        for j in segment:
            taken = sum(allowed[i][2] for i in segment if i >= j)
            level = min(level, burst + rate * (now - allowed[j][0]) / 1000 - taken)
        if level >= cost:
            allowed.append((now, key, cost))
            answers.append(None)
        else:
            answers.append(math.ceil((cost - level) * 1000 / rate) / 1000)
    return answers


def run(events: list[Event], rate: Fraction, burst: int, keys_max: int) -> list[float | None]:
    clock = FakeClock()
    table = BucketTable(clock, keys_max)
    answers: list[float | None] = []
    for step, key, cost in events:
        clock.advance(step)
        try:
            table.take(key, float(rate), burst, cost)
            answers.append(None)
        except RateLimited as exc:
            assert exc.code == "RATE_LIMITED"
            answers.append(exc.retry_after_s)
    assert len(table) <= keys_max
    return answers


# mostly no time between takes, so buckets run dry and eviction matters
events_st = st.lists(st.tuples(st.one_of(st.just(0), st.just(0), st.integers(0, 1500)), st.sampled_from(["ip:a", "ip:b", "client:c", "ip:d"]),
                               st.integers(1, 3)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(events=events_st, rate=st.sampled_from([Fraction(1, 2), Fraction(1), Fraction(5, 2), Fraction(10), Fraction(40)]),
       burst=st.integers(1, 6), keys_max=st.integers(1, 5))
@example(events=[(0, "ip:a", 1), (0, "ip:b", 1), (0, "ip:a", 1), (0, "ip:c", 1), (0, "ip:a", 1)],
         rate=Fraction(1), burst=2, keys_max=2)      # least recently charged, not first stored, goes
def test_local_buckets_match_the_oracle(events: list[Event], rate: Fraction, burst: int, keys_max: int) -> None:
    assert run(events, rate, burst, keys_max) == oracle(events, rate, burst, keys_max)


def test_the_oracle_can_tell_a_wrong_bucket() -> None:
    """The oracle is not the implementation: it disagrees with a bucket that refills too fast."""
    events: list[Event] = [(0, "ip:a", 2), (0, "ip:a", 1), (400, "ip:a", 1)]
    assert oracle(events, Fraction(2), 2, 4) == [None, 0.5, 0.1]
    assert run(events, Fraction(2), 2, 4) == [None, 0.5, 0.1]
    assert run(events, Fraction(3), 2, 4) != oracle(events, Fraction(2), 2, 4)
